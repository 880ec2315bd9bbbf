"""Reads the console shows that no owning app offers as a selector, so views stay thin and each is tested alone."""

from __future__ import annotations

from collections.abc import Iterable

from components.models import ComponentDefinition
from deployments.models import ComponentDeployment
from templates_app.models import UseCaseTemplate
from templates_app.selectors import template_list


def deployment_gpus_freed(*, components: Iterable[ComponentDeployment]) -> list[tuple[str, int]]:
    """The GPUs stopping these components frees: (GPU type, gpu_count * replicas), sorted by type."""
    gpus: dict[str, int] = {}
    for row in components:
        resources = row.resources or {}
        if resources.get("gpu_count"):
            count = resources["gpu_count"] * resources.get("replicas", 1)
            gpus[resources["gpu_type"]] = gpus.get(resources["gpu_type"], 0) + count
    return sorted(gpus.items())


def component_used_by(*, user, component: ComponentDefinition) -> list[UseCaseTemplate]:
    """The active templates visible to the user (system ones and their tenants') that deploy the component,
    by its id or one of its aliases."""
    refs = {component.id, *component.aliases}
    return [
        template
        for template in template_list(user=user).filter(is_active=True)
        if any(c.get("component_ref") in refs for c in template.components)
    ]
