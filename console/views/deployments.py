"""The user's deployments: the list, the live status page (htmx polling) and delete with its stop order."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from console.dag import deployment_layout
from console.metrics_panel import metrics_panel, range_name
from console.selectors import deployment_gpus_freed
from core.exceptions import ServiceError
from deployments import selectors, services
from deployments.filters import DeploymentFilterSet
from deployments.models import UseCaseDeployment
from deployments.selectors import deployment_hourly_cost
from deployments.state import DeploymentStatus, delete_order
from jobs.selectors import cluster_list
from observability.selectors import alert_list
from templates_app.selectors import template_list
from tenancy.selectors import project_list, user_can_write

PAGE_SIZE = 50
# How often the status page asks for news: fast while the reconciler works, slowly once it runs (a component can
# still fail), not at all when nothing more will happen.
POLL_ACTIVE = "1s"
POLL_RUNNING = "10s"
EVENTS_SHOWN = 500
READY = ("RUNNING", "SUCCEEDED")
REVISIONS_SHOWN = 50


def _deployment_or_404(request, pk) -> UseCaseDeployment:
    deployment = selectors.deployment_list(user=request.user).filter(pk=pk).first()
    if deployment is None:
        raise Http404("No such deployment.")
    selectors.deployments_cost_so_far([deployment])
    return deployment


def poll_interval(status: str) -> str | None:
    if status in DeploymentStatus.ACTIVE:
        return POLL_ACTIVE
    if status in {DeploymentStatus.RUNNING, DeploymentStatus.SCALED_TO_ZERO}:  # at zero: to see a wake
        return POLL_RUNNING
    return None


@login_required
def deployment_list_page(request):
    """Deployments in the user's tenants with status, template, cluster, age and cost so far; filters."""
    filterset = DeploymentFilterSet(request.GET, queryset=selectors.deployment_list(user=request.user))
    errors = None if filterset.is_valid() else filterset.errors
    queryset = filterset.qs if errors is None else UseCaseDeployment.objects.none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    selectors.deployments_cost_so_far(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/deployments/list.html",
        {
            "page": page,
            "errors": errors,
            "filters": request.GET,
            "query": query.urlencode(),
            "statuses": UseCaseDeployment.Status.choices,
            "selected_statuses": request.GET.getlist("status"),
            "templates": template_list(user=request.user),
            "clusters": cluster_list(user=request.user),
            "projects": project_list(user=request.user),
        },
    )


def _live_context(deployment: UseCaseDeployment, *, after: int | None) -> dict:
    components = selectors.deployment_components(deployment=deployment)
    events = selectors.deployment_events(deployment=deployment, after=after)
    # Newest first: the page shows the latest EVENTS_SHOWN; a poll brings those after the last one shown.
    events = list(events.order_by("-id")[:EVENTS_SHOWN]) if after is None else list(events[:EVENTS_SHOWN])[::-1]
    last_event_id = events[0].id if events else after
    candidates = [row for row in components if row.is_candidate]
    # What the stack waits for: the parts of a change rolling out, else the components themselves.
    parts = candidates or [row for row in components if not row.is_candidate]
    return {
        "deployment": deployment,
        "components": components,
        "events": events,
        "graph": deployment_layout(deployment.plan, components),
        "progress": {
            "ready": sum(row.status in READY for row in parts),
            "total": len(parts),
            "of": "new parts" if candidates else "components",
        },
        "last_event_id": last_event_id or 0,
        "poll": poll_interval(deployment.status),
        "hourly_cost": deployment_hourly_cost(deployment),
        "revisions": list(selectors.deployment_revisions(deployment=deployment)[:REVISIONS_SHOWN]),
        "upgrade_available": selectors.deployment_upgrade_available(deployment),
    }


@login_required
def deployment_detail_page(request, pk):
    """Live status: components with state, job and outputs, the event timeline; updates itself via htmx."""
    deployment = _deployment_or_404(request, pk)
    context = _live_context(deployment, after=None)
    context["can_write"] = user_can_write(request.user, deployment.tenant_id)
    context["can_change"] = context["can_write"] and deployment.status not in (
        DeploymentStatus.DELETING,
        DeploymentStatus.DELETED,
    )
    context["panel"] = metrics_panel(
        deployment=deployment, range_name=range_name(request.GET.get("range")), now=timezone.now()
    )
    context["endpoint"] = selectors.deployment_endpoint_url(deployment, request=request)
    # Its own alerts: the firing ones ("firing" sorts before "resolved"), then the most recent resolved ones.
    alerts = alert_list(user=request.user).filter(deployment=deployment).order_by("state", "-fired_at")
    context["alerts"] = list(alerts[:ALERTS_SHOWN])
    return render(request, "console/deployments/detail.html", context)


ALERTS_SHOWN = 10


@login_required
def deployment_metrics(request, pk):
    """The htmx fragment of the metrics section (`?range=1h|24h|7d`): charts and SLO attainment, re-polled every
    minute while the deployment runs."""
    deployment = _deployment_or_404(request, pk)
    panel = metrics_panel(deployment=deployment, range_name=range_name(request.GET.get("range")), now=timezone.now())
    return render(request, "console/deployments/_metrics.html", {"deployment": deployment, "panel": panel})


@login_required
def deployment_live(request, pk):
    """The htmx fragment the status page polls: the status block, plus the events newer than `?after=`
    appended to the timeline out of band."""
    deployment = _deployment_or_404(request, pk)
    after = request.GET.get("after", "")
    context = _live_context(deployment, after=int(after) if after.isdigit() else None)
    context["can_write"] = user_can_write(request.user, deployment.tenant_id)
    return render(request, "console/deployments/_live.html", {**context, "oob_events": True})


def _stop_plan(deployment: UseCaseDeployment, components) -> list[list[dict]]:
    """The waves a delete stops components in (dependents first), each with what it runs: a component's serving
    part, plus the part of a change rolling out beside it (those stop first, with the change)."""
    serving = {row.key: row for row in components if not row.is_candidate}
    extra = {row.key: row for row in components if row.is_candidate}
    waves = delete_order({key: [d for d in row.depends_on if d in serving] for key, row in serving.items()})
    return [
        [{"row": serving[key], "resources": serving[key].resources, "candidate": extra.get(key)} for key in wave]
        for wave in waves
    ]


@login_required
@require_http_methods(["GET", "POST"])
def deployment_delete_page(request, pk):
    """Confirm a delete: what will be stopped, in which order, the GPUs it frees; POST starts it."""
    deployment = _deployment_or_404(request, pk)
    if request.method == "POST":
        try:
            services.deployment_delete(user=request.user, deployment=deployment)
        except ServiceError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, "Deletion started: components stop dependents first.")
        return redirect("console:deployment-detail", pk=deployment.pk)
    components = selectors.deployment_components(deployment=deployment)
    active = [row for row in components if row.status not in ("STOPPED",)]
    return render(
        request,
        "console/deployments/delete.html",
        {
            "deployment": deployment,
            "waves": _stop_plan(deployment, active),
            "gpus": deployment_gpus_freed(components=active),
            "hourly_cost": deployment_hourly_cost(deployment),
            "can_write": user_can_write(request.user, deployment.tenant_id),
            "already": deployment.status in (DeploymentStatus.DELETING, DeploymentStatus.DELETED),
        },
    )
