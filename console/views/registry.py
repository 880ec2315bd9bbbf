"""Read-only catalogues: the component registry and the use case SLO catalogue."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from components.filters import ComponentFilterSet
from components.models import ComponentDefinition
from components.selectors import component_get, component_list
from console.selectors import can_import, component_used_by
from core.exceptions import NotFound, ServiceError
from deployments.selectors import deployment_list
from deployments.state import DeploymentStatus
from observability.selectors import deployments_slo_status
from sizing import selectors as sizing_selectors
from sizing.search import Load
from templates_app.selectors import template_list
from usecases import profiles
from usecases import selectors as usecase_selectors
from usecases.filters import SORT_FIELDS

SLO_PAGE_SIZE = 25
SLO_PARAMS = ("q", "industry", "tags", "tags_mode", "latency_profile", "input_length_profile", "sort_by", "sort_order")
# The models the SLO page sizes for (small, medium, large, mixture of experts).
COMMON_MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen2.5-14B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
)
MAX_PAGE_USERS = 10_000
SERVING_SHOWN = 100
SLO_RANGES = (
    ("Input tokens", "input_tokens", ""),
    ("Output tokens", "output_tokens", ""),
    ("Batch size", "batch_size", ""),
    ("Beam size", "beam_size", ""),
    ("Time to first token", "ttft", "s"),
    ("End-to-end latency", "e2e", "s"),
    ("Inter-token latency", "inter_token", "s"),
)


@login_required
def component_list_page(request):
    """The registry grouped by category, filtered by category, deployment type and text."""
    filterset = ComponentFilterSet(request.GET, queryset=component_list())
    errors = None if filterset.is_valid() else filterset.errors
    components = [] if errors else list(filterset.qs.order_by("category", "id"))
    return render(
        request,
        "console/components/list.html",
        {
            "components": components,
            "errors": errors,
            "categories": ComponentDefinition.Category.choices,
            "deployment_types": ComponentDefinition.DeploymentType.choices,
            "filters": request.GET,
            "selected_categories": request.GET.getlist("category"),
        },
    )


@login_required
def component_detail_page(request, component_id: str):
    """One component: how it runs, its defaults, inputs, outputs, and the templates that use it."""
    try:
        component = component_get(ref=component_id)
    except NotFound:
        raise Http404("No such component.") from None
    used_by = component_used_by(user=request.user, component=component)
    return render(request, "console/components/detail.html", {"component": component, "used_by": used_by})


def slo_search_params(query) -> dict:
    """The catalogue search's keywords from the list page's query string (profiles as repeated checkboxes)."""
    params = {name: query.get(name) for name in SLO_PARAMS if query.get(name)}
    for name in ("latency_profile", "input_length_profile"):
        if query.getlist(name):
            params[name] = ",".join(query.getlist(name))
    return params


@login_required
def slo_list_page(request):
    """The use case SLO catalogue: the API's search (same parameters) with industry, tag and profile filters."""
    errors = None
    try:
        queryset = usecase_selectors.usecase_search(**slo_search_params(request.GET))
    except ServiceError as error:
        errors, queryset = error.errors, usecase_selectors.usecase_queryset().none()
    page = Paginator(queryset, SLO_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/slo/list.html",
        {
            "page": page,
            "errors": errors,
            "filters": request.GET,
            "query": query.urlencode(),
            "industries": usecase_selectors.industry_list(),
            "tags": usecase_selectors.tag_list(limit=40),
            "latency_profiles": profiles.LATENCY_PROFILE_NAMES,
            "input_length_profiles": profiles.INPUT_LENGTH_PROFILE_NAMES,
            "selected_latency": request.GET.getlist("latency_profile"),
            "selected_input": request.GET.getlist("input_length_profile"),
            "sort_fields": SORT_FIELDS,
            "can_import": can_import(request.user),
        },
    )


@login_required
def slo_detail_page(request, unique_id: str):
    """One use case with its token ranges and latency SLOs."""
    try:
        usecase = usecase_selectors.usecase_get(unique_id=unique_id)
    except NotFound:
        raise Http404("No such use case.") from None
    rows = [
        {
            "label": label,
            "min": getattr(usecase, f"{name}_min"),
            "max": getattr(usecase, f"{name}_max"),
            "unit": unit,
        }
        for label, name, unit in SLO_RANGES
    ]
    users = _users(request.GET.get("users"))
    workload = sizing_selectors.workload_resolve(
        usecase_id=None,
        input_tokens=usecase.input_tokens_max,
        output_tokens=usecase.output_tokens_max,
        slo={"ttft_s": usecase.ttft_max, "itl_s": usecase.inter_token_max, "e2e_s": usecase.e2e_max},
    )
    sizing = sizing_selectors.sizing_for_models(
        workload=workload, model_ids=COMMON_MODELS, load=Load(concurrency=users)
    )
    templates = template_list(user=request.user).filter(tenant__isnull=True, is_active=True).order_by("name")
    serving = list(
        deployment_list(user=request.user)
        .filter(usecase_id=usecase.unique_id)
        .exclude(status=DeploymentStatus.DELETED)
        .select_related(None)
        .prefetch_related(None)
        .order_by("name")[:SERVING_SHOWN]
    )
    return render(
        request,
        "console/slo/detail.html",
        {
            "usecase": usecase,
            "rows": rows,
            "sizing": sizing,
            "users": users,
            "templates": templates,
            "serving": deployments_slo_status(deployments=serving, now=timezone.now()),
        },
    )


def _users(raw: str | None) -> int:
    try:
        return min(MAX_PAGE_USERS, max(1, int(raw or 10)))
    except ValueError:
        return 10
