"""A deployment placed through a cluster set whose cluster goes away (no longer ACTIVE) goes back to its set.

A deployment is placed whole: its components address one another by the cluster's service names, and its plan
(GPU types, sizing) was fitted to that cluster. So it moves whole or not at all:

- nothing of it has started there (every live component still waits: not submitted, or its job queued without
  capacity): its waiting jobs are cancelled, the set places it again among its other members exactly as at
  creation (the plan fitted and sized on each, ranked by the set's strategy), and it starts over on the chosen one;
  the new placement (choice, runner-up, every member's figures, and `replaced_from`) is kept in the plan and on a
  `moved` event, as the created event keeps the first;
- something of it holds capacity or has run there: it stays. What runs there runs on until the cluster reports it
  lost (its job FAILED: the reconciler retries it there, as for any failure) or someone deletes or moves it; its
  waiting parts wait for the cluster to come back. A `stays` event says why.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.exceptions import NotFound, ServiceError
from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.records import component_row, event_record, reconcile_enqueue
from deployments.services.core import waiting_message
from deployments.services.identity import deployment_name_check
from deployments.services.placement import deployment_place, plan_capacity_and_cost, plan_placed
from deployments.state import ComponentStatus, DeploymentStatus
from jobs import services as job_services
from jobs.models import Cluster, ClusterSet, Job
from templates_app.selectors import template_content_at_version

logger = logging.getLogger(__name__)

# A deployment in these states may still have work waiting on its cluster (DELETING, DELETED, FAILED and
# SCALED_TO_ZERO have nothing to place).
MOVABLE = (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING, DeploymentStatus.DEGRADED, DeploymentStatus.RUNNING)
# A live component in one of these has started on the cluster (or finished there): the deployment stays.
STARTED = frozenset({ComponentStatus.STARTING, ComponentStatus.RUNNING, ComponentStatus.SUCCEEDED})


def deployments_replace_from(*, cluster: Cluster, now: datetime | None = None) -> list[UseCaseDeployment]:
    """Every live deployment a cluster set placed on `cluster` (which went away) is placed again by its set, or
    stays with the reason (see the module). Returns the deployments moved."""
    now = now or timezone.now()
    moved = []
    deployments = UseCaseDeployment.objects.filter(cluster=cluster, status__in=MOVABLE).order_by("created_at", "id")
    for deployment_id, plan in deployments.values_list("pk", "plan"):
        set_id = ((plan or {}).get("placement") or {}).get("cluster_set_id")
        if not set_id:
            continue  # deployed on the cluster itself: it was asked for there
        try:
            if _replace(deployment_id, cluster=cluster, set_id=set_id, now=now):
                moved.append(UseCaseDeployment.objects.get(pk=deployment_id))
        except Exception:  # one deployment's failure does not keep the others where they are
            logger.exception("Could not place deployment %s again (cluster %s went away)", deployment_id, cluster.pk)
    return moved


def on_cluster_went_away(sender, *, cluster: Cluster, **kwargs) -> None:
    """The receiver of `jobs.signals.cluster_went_away` (connected in `DeploymentsConfig.ready`)."""
    deployments_replace_from(cluster=cluster)


@transaction.atomic
def _replace(deployment_id, *, cluster: Cluster, set_id: str, now: datetime) -> bool:
    deployment = (
        UseCaseDeployment.objects.select_for_update(of=("self",))
        .select_related("template", "project", "tenant")
        .filter(pk=deployment_id, cluster=cluster, status__in=MOVABLE)
        .first()
    )
    if deployment is None:
        return False  # deleted, finished or moved meanwhile
    cluster_set = ClusterSet.objects.filter(pk=set_id, tenant_id=deployment.tenant_id).first()
    went = f"{cluster.name} is {cluster.status}"
    if cluster_set is None:
        return _stays(deployment, f"{went}; the cluster set that placed it no longer exists.", cluster=cluster)
    if deployment.pending_revision_id:
        return _stays(deployment, f"{went}; a change is being rolled out, so it stays there.", cluster=cluster)
    rows = list(deployment.components.filter(retired_at__isnull=True).select_related("job"))
    started = [row.key for row in rows if _has_started(row)]
    if started:
        reason = (
            f"{went}; {', '.join(sorted(started))} started there, so the deployment stays: what runs there runs on "
            "until the cluster reports it lost, what waits there waits for it to come back."
        )
        return _stays(deployment, reason, cluster=cluster)
    sizing = deployment.plan.get("sizing") or {}
    given = tuple(sizing.get("given", tuple(deployment.parameters)))
    template = deployment.template
    if deployment.template_version != template.version:
        try:
            template = template_content_at_version(template=template, version=deployment.template_version)
        except NotFound as error:
            return _stays(deployment, f"{went}; it cannot be placed again: {error.detail}", cluster=cluster)
    load = deployment.load or None if deployment.usecase_id else None
    strategy = (deployment.plan.get("placement") or {}).get("strategy")
    try:
        target, placement = deployment_place(
            user=None,
            template=template,
            project=deployment.project,
            cluster_set=cluster_set,
            parameters=dict(deployment.parameters),
            usecase_id=deployment.usecase_id,
            load=load,
            strategy=strategy,
            now=now,
            given=given,
        )
        deployment_name_check(cluster=target, name=deployment.name)
        placed = plan_placed(
            template=template,
            parameters=dict(deployment.parameters),
            cluster=target,
            usecase_id=deployment.usecase_id,
            load=load,
            given=given,
        )
    except ServiceError as error:
        detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (error.errors or {}).items()) or error.detail
        return _stays(deployment, f"{went} and no other member of {cluster_set.name} can take it: {detail}", cluster)
    costing = plan_capacity_and_cost(plan=placed.plan, cluster=target, now=now)
    placement["replaced_from"] = {"cluster_id": str(cluster.pk), "name": cluster.name, "status": cluster.status}
    _move(deployment, rows=rows, source=cluster, target=target, placed=placed, costing=costing, placement=placement)
    return True


def _has_started(row: ComponentDeployment) -> bool:
    """The row's part holds capacity on the cluster or has run there."""
    if row.has_run or row.status in STARTED:
        return True
    job = row.job
    return job is not None and (job.admitted_at is not None or job.status in (Job.Status.RUNNING, Job.Status.SUCCEEDED))


def _stays(deployment: UseCaseDeployment, reason: str, cluster: Cluster) -> bool:
    event_record(
        deployment=deployment,
        kind=DeploymentEvent.Kind.STAYS,
        message=f"Stays on {cluster.name}: {reason}",
        data={"cluster_id": str(cluster.pk), "cluster_status": cluster.status},
    )
    return False


def _move(deployment, *, rows, source: Cluster, target: Cluster, placed, costing: dict, placement: dict) -> None:
    """Cancel what waits on `source`, retire the rows, record the plan fitted to `target` with one new row per
    planned component (the next attempt of each), and reconcile there."""
    now = timezone.now()
    reason = f"moved with its deployment from {source.name} ({source.status}) to {target.name}"
    for row in rows:
        if row.job is not None and not row.job.is_terminal:
            job_services.job_cancel(job=row.job, reason=reason, now=now)
    attempts: dict[str, int] = {}
    for key, attempt in deployment.components.values_list("key", "attempt"):
        attempts[key] = max(attempts.get(key, 0), attempt)
    for row in rows:
        row.retired_at, row.updated_at = now, now
        row.status, row.status_message = ComponentStatus.STOPPED, f"Not started: {reason}."
    ComponentDeployment.objects.bulk_update(rows, ["retired_at", "status", "status_message", "updated_at"])
    plan = placed.plan
    new_rows = [
        component_row(
            deployment=deployment,
            planned=component.to_dict(),
            attempt=attempts.get(component.key, 0) + 1,
            status_message=waiting_message(component.depends_on),
        )
        for component in plan.components
    ]
    ComponentDeployment.objects.bulk_create(new_rows)
    deployment.cluster = target
    deployment.plan = {
        **plan.to_stored_dict(),
        "hourly_cost_by_component": costing["hourly_cost_by_component"],
        "estimated_hourly_cost": costing["estimated_hourly_cost"],
        "sizing": {**placed.stored_report(), "given": (deployment.plan.get("sizing") or {}).get("given", [])},
        "placement": placement,
    }
    message = f"Moved from {source.name} ({source.status}) by the cluster set: {placement['reason']}"
    deployment.status, deployment.status_message = DeploymentStatus.PENDING, message
    deployment.next_reconcile_at = None
    deployment.save(update_fields=["cluster", "plan", "status", "status_message", "next_reconcile_at", "updated_at"])
    event_record(
        deployment=deployment,
        kind=DeploymentEvent.Kind.MOVED,
        message=message,
        data={"placement": placement, "from_cluster_id": str(source.pk), "to_cluster_id": str(target.pk)},
    )
    reconcile_enqueue(deployment_id=deployment.pk)
    logger.info("deployment %s moved from cluster %s to %s", deployment.pk, source.pk, target.pk)
