"""Base viewsets and fields of every tenant-owned API. Querysets come from each app's selectors, already scoped
to the caller's tenants (`tenancy.selectors.scope_to_user`, the one scoping mechanism): another tenant's object
is a 404."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from tenancy.api.permissions import TenantWritePermission
from tenancy.selectors import scope_to_user


class TenantScopedMixin:
    """Signed-in callers only, writes for the tenant's writers; `get_queryset()` returns the app's selector."""

    permission_classes = [IsAuthenticated, TenantWritePermission]

    def get_queryset(self):
        raise NotImplementedError(f"{type(self).__name__} must take its queryset from its app's selector.")


class TenantScopedViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """A model viewset scoped to the caller's tenants."""


class FixedAfterCreateMixin:
    """For a model serializer: the fields named in `fixed_after_create` (the owning tenant by default) are written
    on create and read-only on update."""

    fixed_after_create: tuple[str, ...] = ("tenant_id",)

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            for name in self.fixed_after_create:
                fields[name].read_only = True
        return fields


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference (`project_id`, `cluster_id`, ...) that only resolves inside the caller's tenants."""

    def __init__(self, *, tenant_field: str = "tenant", **kwargs):
        self.tenant_field = tenant_field
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset.none()
        return scope_to_user(queryset, request.user, tenant_field=self.tenant_field)

    def to_internal_value(self, data):
        # A list of items resolves its references once (resolve_scoped_references); each item reads from that.
        resolved = self.context.get("resolved_references", {}).get(self.queryset.model, {})
        if str(data) in resolved:
            return resolved[str(data)]
        return super().to_internal_value(data)


def resolve_scoped_references(serializer: serializers.Serializer, field: ScopedPrimaryKeyRelatedField, ids) -> None:
    """Read the objects these ids name (within the caller's tenants) in one query, for `field` in every item of a
    list `serializer` is about to validate; unknown or malformed ids are left to the field's own error."""
    wanted = set()
    for value in ids:
        try:
            wanted.add(str(field.queryset.model._meta.pk.to_python(value)))
        except (DjangoValidationError, TypeError, ValueError):  # a malformed id fails in the field, with its message
            continue
    found = {str(obj.pk): obj for obj in field.get_queryset().filter(pk__in=wanted)} if wanted else {}
    serializer.context.setdefault("resolved_references", {})[field.queryset.model] = found
