"""Reads of the serving app, scoped to the caller's tenants; what the gateway reads per request."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet, Sum

from deployments.models import ComponentDeployment, UseCaseDeployment
from serving.models import DeploymentKey, EndpointQueue, EndpointTraffic
from tenancy.selectors import scope_to_user


def key_list(*, user, deployment: UseCaseDeployment) -> QuerySet[DeploymentKey]:
    """The deployment's keys (live and revoked, newest first) if the caller sees the deployment."""
    keys = DeploymentKey.objects.filter(deployment=deployment).select_related("created_by", "deployment")
    return scope_to_user(keys, user)


def key_for_secret(*, digest: str) -> DeploymentKey | None:
    """The key with this digest, with its deployment and its endpoint queue's settings (one query); None when no
    key has it."""
    return (
        DeploymentKey.objects.select_related("deployment", "deployment__endpoint_queue").filter(digest=digest).first()
    )


def deployment_for_slug(*, slug: str) -> UseCaseDeployment | None:
    return UseCaseDeployment.objects.filter(endpoint_slug=slug).only("pk", "endpoint_slug").first()


def serving_component(*, deployment_id, key: str) -> ComponentDeployment | None:
    """The row that serves the component now: current (not retired), not a candidate still starting beside it."""
    return (
        ComponentDeployment.objects.filter(
            deployment_id=deployment_id, key=key, retired_at__isnull=True, is_candidate=False
        )
        .select_related("job")
        .only(
            "pk",
            "key",
            "status",
            "revision",
            "generation",
            "component_version",
            "outputs",
            "job__name",
            "job__resources",
        )
        .first()
    )


def queue_settings(*, deployment_id) -> EndpointQueue:
    """The endpoint queue's settings: the deployment's row, or an unsaved one with the defaults (one query)."""
    found = EndpointQueue.objects.filter(deployment_id=deployment_id).first()
    return found or EndpointQueue(deployment_id=deployment_id)


def traffic_totals(*, deployment_id, start: datetime, end: datetime) -> dict[str, int]:
    """Requests the gateway served and refused for the deployment in [start, end), by outcome."""
    totals = EndpointTraffic.objects.filter(deployment_id=deployment_id, minute__gte=start, minute__lt=end).aggregate(
        served=Sum("served"),
        unauthorized=Sum("unauthorized"),
        throttled=Sum("throttled"),
        unavailable=Sum("unavailable"),
        queued=Sum("queued"),
        queue_full=Sum("queue_full"),
        queue_timeout=Sum("queue_timeout"),
        dequeued=Sum("dequeued"),
    )
    return {name: int(value or 0) for name, value in totals.items()}
