from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.exceptions import Conflict, PermissionDenied, ValidationError
from templates_app import selectors, services
from templates_app.api.serializers import (
    PlanSerializer,
    ResolveRequestSerializer,
    TemplateForkSerializer,
    TemplateRevisionSerializer,
    TemplateSerializer,
    TemplateWriteSerializer,
)
from templates_app.filters import TemplateFilterSet
from templates_app.parameters import parameters_schema
from templates_app.resolver import resolve
from tenancy.models import Tenant
from tenancy.selectors import writable_tenant_ids

TEMPLATE_ID = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="A system template's slug, or a template's UUID."
)


@extend_schema_view(
    retrieve=extend_schema(parameters=[TEMPLATE_ID]),
    update=extend_schema(parameters=[TEMPLATE_ID], request=TemplateWriteSerializer, responses=TemplateSerializer),
    partial_update=extend_schema(
        parameters=[TEMPLATE_ID], request=TemplateWriteSerializer, responses=TemplateSerializer
    ),
    destroy=extend_schema(parameters=[TEMPLATE_ID]),
    create=extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer}),
)
class TemplateViewSet(viewsets.ModelViewSet):
    """System templates (read-only, from YAML) and your tenants' templates (create, change, fork, restore)."""

    serializer_class = TemplateSerializer
    filterset_class = TemplateFilterSet
    ordering_fields = ["slug", "name", "category", "created_at", "updated_at"]
    lookup_field = "slug"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"
    expensive_actions = {"resolve_plan"}  # the stricter rate limit (security.throttling)
    read_only_actions = {"resolve_plan"}  # writes nothing: read-only tokens may call it

    def get_queryset(self):
        return selectors.template_list(user=self.request.user)

    def get_object(self):
        return selectors.template_get_for_user(user=self.request.user, template_id=self.kwargs["id"])

    def create(self, request, *args, **kwargs):
        serializer = TemplateWriteSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        template = services.template_create(user=request.user, **serializer.validated_data)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        template = self.get_object()
        serializer = TemplateWriteSerializer(
            template, data=request.data, partial=kwargs.get("partial", False), context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        template = services.template_update(user=request.user, template=template, **serializer.validated_data)
        return Response(
            TemplateSerializer(selectors.template_get_for_user(user=request.user, template_id=str(template.pk))).data
        )

    def destroy(self, request, *args, **kwargs):
        services.template_delete(user=request.user, template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[TEMPLATE_ID],
        responses={200: OpenApiTypes.OBJECT},
        summary="The JSON Schema of the template's parameters (what resolve and deployments validate with)",
    )
    @action(detail=True, methods=["get"], url_path="schema", filter_backends=[], pagination_class=None)
    def parameter_schema(self, request, id=None):
        return Response(parameters_schema(self.get_object()))

    @extend_schema(
        parameters=[TEMPLATE_ID],
        request=ResolveRequestSerializer,
        responses={200: PlanSerializer},
        summary="Dry run: the plan a deployment with these parameters would follow",
    )
    @action(detail=True, methods=["post"], url_path="resolve", filter_backends=[], pagination_class=None)
    def resolve_plan(self, request, id=None):
        template = self.get_object()
        if not template.is_active:
            raise Conflict("This template is inactive.")
        serializer = ResolveRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = resolve(template, serializer.validated_data["parameters"])
        return Response(plan.to_dict(redact=True))

    @extend_schema(
        parameters=[TEMPLATE_ID],
        request=TemplateForkSerializer,
        responses={201: TemplateSerializer},
        summary="Copy a system (or own) template into one of your tenants",
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def fork(self, request, id=None):
        template = self.get_object()
        serializer = TemplateForkSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tenant = data.pop("tenant", None) or self._only_writable_tenant(request.user)
        fork = services.template_fork(user=request.user, template=template, tenant=tenant, **data)
        return Response(TemplateSerializer(fork).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _only_writable_tenant(user) -> Tenant:
        tenant_ids = writable_tenant_ids(user)
        if not tenant_ids:
            raise PermissionDenied("Your role is read-only in every tenant you belong to.")
        if len(tenant_ids) != 1:
            raise ValidationError({"tenant_id": ["This field is required."]})
        return Tenant.objects.get(pk=tenant_ids[0])

    @extend_schema(parameters=[TEMPLATE_ID], responses=TemplateRevisionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def revisions(self, request, id=None):
        """Every revision of the template, newest first, with its full content."""
        queryset = selectors.template_revisions(template=self.get_object())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(TemplateRevisionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[TEMPLATE_ID, OpenApiParameter("revision", OpenApiTypes.INT, OpenApiParameter.PATH)],
        request=None,
        responses={200: TemplateSerializer},
        summary="Make a user template's content what it was at a revision (recorded as a new revision)",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"revisions/(?P<revision>[0-9]+)/restore",
        filter_backends=[],
        pagination_class=None,
    )
    def restore(self, request, id=None, revision=None):
        template = services.template_restore(user=request.user, template=self.get_object(), revision=int(revision))
        return Response(
            TemplateSerializer(selectors.template_get_for_user(user=request.user, template_id=str(template.pk))).data
        )
