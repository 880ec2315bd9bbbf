"""Reads of templates, scoped to the caller: the system catalogue plus the caller's tenants' templates."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from core.exceptions import NotFound
from templates_app.models import TemplateRevision, UseCaseTemplate
from tenancy.selectors import scope_to_user


def template_list(*, user) -> QuerySet[UseCaseTemplate]:
    """System templates and the user's tenants' templates, not deleted."""
    queryset = UseCaseTemplate.objects.filter(deleted_at__isnull=True).select_related(
        "tenant", "forked_from", "created_by"
    )
    return scope_to_user(queryset, user, include_null=True)


def template_get_for_user(*, user, template_id: str) -> UseCaseTemplate:
    """A template by its API id (a system template's slug, or a template's UUID) if the user may see it.

    Anything else, including another tenant's template, is NotFound: existence never leaks."""
    queryset = template_list(user=user)
    try:
        pk = uuid.UUID(str(template_id))
    except ValueError:
        template = queryset.filter(tenant__isnull=True, slug=template_id).first()
    else:
        template = queryset.filter(pk=pk).first()
    if template is None:
        raise NotFound("No such template.")
    return template


def template_revisions(*, template: UseCaseTemplate) -> QuerySet[TemplateRevision]:
    return template.revisions.select_related("created_by").order_by("-revision")


def template_content_at_version(*, template: UseCaseTemplate, version: str) -> dict:
    """The stored content of `template` at `version` (its latest revision with that version); NotFound if unknown."""
    revision = template.revisions.filter(version=str(version)).order_by("-revision").first()
    if revision is None:
        raise NotFound(f"No version {version!r} of template {template.api_id}.")
    return revision.content
