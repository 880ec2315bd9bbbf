"""Reads of the component registry."""

from __future__ import annotations

from django.db.models import QuerySet

from components.models import ComponentDefinition
from core.exceptions import NotFound


def component_list(*, include_inactive: bool = False) -> QuerySet[ComponentDefinition]:
    """Definitions visible in the registry (the registry is global: every tenant sees the same catalogue)."""
    queryset = ComponentDefinition.objects.all()
    return queryset if include_inactive else queryset.filter(is_active=True)


def component_get(*, ref: str) -> ComponentDefinition:
    """A definition by id or alias (an active one first), deactivated or not; NotFound otherwise."""
    definition = ComponentDefinition.objects.filter(pk=ref).first()
    if definition is None:
        for candidate in ComponentDefinition.objects.order_by("-is_active", "id"):
            if ref in candidate.aliases:
                return candidate
        raise NotFound(f"No component {ref!r}.")
    return definition


def component_definitions_by_ref() -> dict[str, dict]:
    """{id or alias: definition dict} of the active definitions, in one query (what the resolver consumes)."""
    index: dict[str, dict] = {}
    for definition in ComponentDefinition.objects.filter(is_active=True):
        data = definition.as_definition()
        index[definition.id] = data
        for alias in definition.aliases:
            index.setdefault(alias, data)
    return index
