"""Reads the console shows that no owning app offers as a selector, so views stay thin and each is tested alone."""

from __future__ import annotations

from collections.abc import Iterable

from components.models import ComponentDefinition
from core.resources import gpu_totals
from deployments.models import ComponentDeployment, UseCaseDeployment
from templates_app.models import UseCaseTemplate
from templates_app.selectors import template_list
from tenancy.selectors import scope_to_user
from usecases.models import UseCase
from usecases.profiles import latency_profile
from usecases.selectors import usecase_list_active


def deployment_gpus_freed(*, components: Iterable[ComponentDeployment]) -> list[tuple[str, int]]:
    """The GPUs stopping these components frees: (GPU type, gpu_count * replicas), sorted by type."""
    return sorted(gpu_totals(row.resources for row in components).items())


def component_used_by(*, user, component: ComponentDefinition) -> list[UseCaseTemplate]:
    """The active templates visible to the user (system ones and their tenants') that deploy the component,
    by its id or one of its aliases."""
    refs = {component.id, *component.aliases}
    return [
        template
        for template in template_list(user=user).filter(is_active=True)
        if any(c.get("component_ref") in refs for c in template.components)
    ]


# Open-weight models the simulated and real LLM servers (vLLM, TGI) are commonly run with; the wizard suggests them
# beside the models already in use, and any other Hugging Face id is accepted.
WELL_KNOWN_MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "google/gemma-2-9b-it",
    "microsoft/Phi-3.5-mini-instruct",
)
RECENT_DEPLOYMENTS_SCANNED = 200


def model_suggestions(*, user) -> list[str]:
    """Model ids to suggest for a model parameter: the well-known ones, the templates' defaults and what the user's
    tenants deployed recently; sorted, no repeats."""
    models = set(WELL_KNOWN_MODELS)
    names = {"model_id"}
    for template in template_list(user=user).filter(is_active=True):
        for parameter in template.parameters or ():
            if parameter.get("type") == "model_ref":
                names.add(parameter["name"])
                if isinstance(parameter.get("default"), str):
                    models.add(parameter["default"])
    recent = scope_to_user(UseCaseDeployment.objects.order_by("-created_at"), user).values_list("parameters", flat=True)
    for parameters in recent[:RECENT_DEPLOYMENTS_SCANNED]:
        models.update(v for k, v in (parameters or {}).items() if k in names and isinstance(v, str) and v)
    return sorted(models, key=str.lower)


def can_import(user) -> bool:
    """Whether the user may import into the SLO catalogue: add and change, as the API's CatalogPermission."""
    meta = UseCase._meta
    return user.has_perms([f"{meta.app_label}.{perm}_{meta.model_name}" for perm in ("add", "change")])


def usecase_options() -> list[tuple[str, str]]:
    """(unique_id, "name · latency profile") of every active use case: the wizard's searchable use case picker."""
    rows = usecase_list_active().order_by("name").values_list("unique_id", "name", "e2e_max")
    return [(unique_id, f"{name} · {latency_profile(e2e_max)}") for unique_id, name, e2e_max in rows]
