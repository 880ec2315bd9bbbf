"""Reads for deployments, scoped to the caller's tenants, with a constant number of queries per list."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from core.money import money
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from jobs.models import Job
from tenancy.selectors import scope_to_user


def current_components_prefetch() -> Prefetch:
    return Prefetch(
        "components",
        queryset=ComponentDeployment.objects.filter(retired_at__isnull=True)
        .select_related("job")
        .order_by("created_at"),
        to_attr="current_components",
    )


def deployments_cost_so_far(deployments) -> None:
    """Set `cost_so_far` on each deployment: the sum of what its jobs (retries and replaced parts included) have
    cost up to now, each as the jobs API shows it (a running job up to this moment). One query for them all."""
    by_id = {deployment.pk: deployment for deployment in deployments}
    totals = dict.fromkeys(by_id, Decimal("0"))
    fields = ("usecase_deployment_id", "status", "actual_cost", "started_at", "hourly_rate", "rate_since")
    for job in Job.objects.filter(usecase_deployment_id__in=list(by_id)).only(*fields, "cost_before_rate"):
        totals[job.usecase_deployment_id] += job.cost_so_far
    for pk, deployment in by_id.items():
        deployment.cost_so_far = money(totals[pk])


def deployment_list(*, user) -> QuerySet[UseCaseDeployment]:
    """Deployments in the caller's tenants, with what a list or detail response shows prefetched."""
    return scope_to_user(
        UseCaseDeployment.objects.select_related(
            "template", "cluster", "project", "created_by", "pending_revision"
        ).prefetch_related(current_components_prefetch()),
        user,
    )


SERVING, CANDIDATE = "serving", "candidate"
COMPONENT_ROLES = (SERVING, CANDIDATE)


def component_role(row: ComponentDeployment) -> str:
    """Whether a live row is the part of the deployed revision (serving) or a replacement starting beside it in the
    pending revision (candidate): during a roll-out a replaced component has one row of each."""
    return CANDIDATE if row.is_candidate else SERVING


def components_in_order(deployment: UseCaseDeployment, rows) -> list[ComponentDeployment]:
    """Rows in the plan's start order, a serving row before its candidate; parts new in the pending revision last."""
    order = {c["key"]: i for i, c in enumerate(deployment.plan.get("components", []))}
    return sorted(rows, key=lambda row: (order.get(row.key, len(order)), row.is_candidate, row.created_at))


def deployment_components(*, deployment: UseCaseDeployment) -> list[ComponentDeployment]:
    """Live component rows of a deployment (serving and candidates) in the plan's start order."""
    rows = deployment.components.filter(retired_at__isnull=True).select_related("job", "component")
    return components_in_order(deployment, rows)


def deployment_events(*, deployment: UseCaseDeployment, after: int | None = None) -> QuerySet[DeploymentEvent]:
    events = deployment.events.select_related("component")
    if after is not None:
        events = events.filter(id__gt=after)
    return events.order_by("id")


def deployment_revisions(*, deployment: UseCaseDeployment) -> QuerySet[DeploymentRevision]:
    """Every change to the deployment, newest first, with who asked."""
    return deployment.revisions.select_related("created_by").order_by("-number")


def deployment_upgrade_available(deployment: UseCaseDeployment) -> str | None:
    """The template's newer version when the deployment runs an older one (an update to it is an upgrade)."""
    template = deployment.template
    if template.is_active and template.version != deployment.template_version:
        return template.version
    return None


def deployment_endpoint_url(deployment: UseCaseDeployment, *, request=None) -> str | None:
    """The stable URL of the deployment's endpoint: SERVING_BASE_URL (or the host the request came to) + its path."""
    path = deployment.endpoint_path
    if path is None:
        return None
    if settings.SERVING_BASE_URL:
        return settings.SERVING_BASE_URL.rstrip("/") + path
    return request.build_absolute_uri(path) if request is not None else path


def deployment_hourly_cost(deployment: UseCaseDeployment) -> Decimal:
    """The estimated hourly cost of the deployment as planned."""
    costs = deployment.plan.get("hourly_cost_by_component") or {}
    return sum((Decimal(value) for value in costs.values()), Decimal("0"))


def service_gap_seconds(*, deployment_id, key: str, until=None) -> float:
    """The longest time, since the component's first job started, in which none of its jobs was RUNNING
    (0 for a component that was never down): the measure of "no downtime" across replacements."""
    until = until or timezone.now()
    intervals = sorted(
        (job.started_at, job.completed_at or until)
        for job in Job.objects.filter(usecase_deployment_id=deployment_id, started_at__isnull=False)
        if job.labels.get("usecase.component") == key
    )
    if not intervals:
        return 0.0
    gap, covered_until = 0.0, intervals[0][1]
    for start, end in intervals[1:]:
        gap = max(gap, (start - covered_until).total_seconds())
        covered_until = max(covered_until, end)
    return max(gap, (until - covered_until).total_seconds())
