"""Writes for deployments: create, preview and delete.

The reconcile loop itself lives in deployments.reconciler; everything here is called by the API, the CLI,
the console and the admin alike.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from billing.budgets import budget_cap_check
from core.exceptions import Conflict, IdempotencyMismatch, ValidationError
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from deployments.reconciler import deployment_first_pass
from deployments.records import component_row, event_record, reconcile_enqueue, revision_record
from deployments.services.identity import (
    deployment_name_check,
    deployment_name_generate,
    request_fingerprint,
)
from deployments.services.placement import target_check, target_plan
from deployments.state import ComponentStatus, DeploymentStatus
from jobs.models import ClusterSet, Job
from tenancy.selectors import require_write

logger = logging.getLogger(__name__)
GENERATED_NAME_ATTEMPTS = 5  # a generated name taken by a concurrent create between its check and its insert


def _idempotent_replay(project, key: str, fingerprint: str) -> UseCaseDeployment | None:
    """The deployment an earlier request with this key created, if the request is the same; another request with
    the key is refused (422)."""
    earlier = UseCaseDeployment.objects.filter(tenant_id=project.tenant_id, idempotency_key=key).first()
    if earlier is not None and earlier.idempotency_fingerprint and earlier.idempotency_fingerprint != fingerprint:
        raise IdempotencyMismatch(errors={"Idempotency-Key": [IdempotencyMismatch.default_detail]})
    return earlier


@transaction.atomic
def deployment_create(
    *,
    user,
    template,
    project,
    parameters: dict,
    cluster=None,
    cluster_set: ClusterSet | None = None,
    strategy: str | None = None,
    name: str = "",
    idempotency_key: str | None = None,
    usecase_id: str = "",
    load: dict | None = None,
) -> tuple[UseCaseDeployment, bool]:
    """Resolve the template and record the deployment with one row per component; reconcile on commit.

    Returns (deployment, created). With an idempotency key already used in the tenant, returns the earlier
    deployment and created=False, writing nothing. With a cluster set instead of a cluster, the set chooses the
    member (`deployment_place`) and the choice is kept in the plan and the created event (`placement`).
    """
    target = {"cluster_id": cluster.pk} if cluster_set is None else {"cluster_set_id": cluster_set.pk}
    if strategy:
        target["strategy"] = strategy
    fingerprint = request_fingerprint(
        user=user,
        operation="deployment_create",
        request={
            "template_id": template.api_id,
            "project_id": project.pk,
            **target,
            "name": name,
            "parameters": parameters,
            "usecase_id": usecase_id or "",
            "load": load or {},
        },
    )
    if cluster is not None:
        target_check(user=user, project=project, cluster=cluster)
    else:
        require_write(user, project.tenant_id)
    budget_cap_check(tenant_id=project.tenant_id, project_id=project.pk, action="new deployments")
    if idempotency_key and (replay := _idempotent_replay(project, idempotency_key, fingerprint)):
        return replay, False
    cluster, placement, placed, costing = target_plan(
        user=user,
        template=template,
        project=project,
        cluster=cluster,
        cluster_set=cluster_set,
        parameters=parameters,
        usecase_id=usecase_id,
        load=load,
        strategy=strategy,
        name=name,
        forecast=False,  # the create checks `never_fits` only; the preview shows the predicted start
    )
    if placed.slo_errors:
        raise ValidationError(placed.slo_errors, detail="No configuration on this cluster meets the use case's SLOs.")
    plan = placed.plan
    if costing["capacity"].get("never_fits"):
        raise ValidationError(
            {"cluster_id": [f"The cluster can never fit this deployment: {costing['capacity']['never_fits']}"]}
        )
    stored_plan = {
        **plan.to_stored_dict(),
        "hourly_cost_by_component": costing["hourly_cost_by_component"],
        "estimated_hourly_cost": costing["estimated_hourly_cost"],
        "sizing": {**placed.stored_report(), "given": sorted(parameters)},
    }
    if placement:
        stored_plan["placement"] = placement
    for attempt in range(1, GENERATED_NAME_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                deployment = UseCaseDeployment.objects.create(
                    tenant_id=project.tenant_id,
                    project=project,
                    cluster=cluster,
                    template=template,
                    template_version=plan.version,
                    name=name or deployment_name_generate(cluster=cluster, template_id=plan.template_id),
                    parameters=plan.parameters,
                    plan=stored_plan,
                    created_by=user if getattr(user, "pk", None) else None,
                    idempotency_key=idempotency_key or None,
                    idempotency_fingerprint=fingerprint if idempotency_key else "",
                    usecase_id=usecase_id or "",
                    load=placed.report["load"],
                )
            break
        except IntegrityError:
            # A concurrent request won the race: with the same key, answer with its deployment; else it took the
            # name. A generated name is generated again (two clients deploying in the same second on one cluster).
            if idempotency_key and (replay := _idempotent_replay(project, idempotency_key, fingerprint)):
                return replay, False
            if not name and attempt < GENERATED_NAME_ATTEMPTS:
                continue
            deployment_name_check(cluster=cluster, name=name)
            raise

    rows = ComponentDeployment.objects.bulk_create(
        [
            component_row(
                deployment=deployment,
                planned=component.to_dict(),
                status_message=waiting_message(component.depends_on),
            )
            for component in plan.components
        ]
    )
    created = DeploymentEvent(
        deployment=deployment,
        kind=DeploymentEvent.Kind.CREATED,
        message=f"Deployment of {plan.template_id} {plan.version} created with {len(rows)} components."
        + (f" Placed by the cluster set: {placement['reason']}" if placement else ""),
        data={
            "start_order": [c.key for c in plan.components],
            "waves": [list(w) for w in plan.waves],
            **({"placement": placement} if placement else {}),
        },
    )
    if settings.DEPLOYMENTS_FIRST_PASS_INLINE:
        # The first wave is submitted before the create's bookkeeping: the "created" event opens the pass's one
        # INSERT of events (still first on the timeline), and the revision and the audit row follow the pass (it
        # reads neither).
        _first_pass(deployment, rows, created)
    else:
        created.save()
        reconcile_enqueue(deployment_id=deployment.pk)
    revision_record(
        deployment=deployment,
        kind=DeploymentRevision.Kind.CREATE,
        number=1,  # the deployment was inserted just above: no revision before it to count
        user=user,
        status=DeploymentRevision.Status.APPLIED,
        completed_at=timezone.now(),
        parameters=plan.parameters,
        template_version=plan.version,
        plan=stored_plan,
        components={component.key: component.resources for component in plan.components},
    )
    audit_record(
        action="create",
        obj=deployment,
        after={
            "name": deployment.name,
            "template": plan.template_id,
            "template_version": plan.version,
            "project": str(project.pk),
            "cluster": str(cluster.pk),
            "parameters": plan.public_parameters(),
        },
    )
    return deployment, True


def _first_pass(deployment: UseCaseDeployment, rows: list[ComponentDeployment], created: DeploymentEvent) -> None:
    """The first reconcile pass, here and now in the creating transaction rather than through the broker, over the
    deployment and rows just inserted (`deployment_first_pass`): the first wave is submitted with the deployment's
    rows, and a stack whose components start at once is RUNNING when the POST answers, without a worker. The pass
    runs in a savepoint: if it fails, only it is undone (the deployment is read again as it stands, the "created"
    event written alone), and a worker takes over after the commit."""
    try:
        deployment_first_pass(deployment=deployment, rows=rows, events=[created])
    except Exception:
        logger.exception("First reconcile pass of deployment %s failed; a worker takes over", deployment.pk)
        deployment.refresh_from_db()
        created.pk = None  # its insert, if the pass got that far, was undone with the pass
        created._state.adding = True
        created.save()
        reconcile_enqueue(deployment_id=deployment.pk)


def waiting_message(depends_on) -> str:
    return f"Waiting for {', '.join(depends_on)}." if depends_on else "Waiting to be submitted."


@transaction.atomic
def deployment_delete(*, user, deployment: UseCaseDeployment) -> UseCaseDeployment:
    """Start deleting: DELETING now; the reconciler stops components dependents-first, then DELETED."""
    require_write(user, deployment.tenant_id)
    updated = UseCaseDeployment.objects.filter(pk=deployment.pk).exclude(
        status__in=[DeploymentStatus.DELETING, DeploymentStatus.DELETED]
    )
    if not updated.update(status=DeploymentStatus.DELETING, status_message="Deleting.", updated_at=timezone.now()):
        raise Conflict(f"The deployment is already {deployment.status.lower()}.")
    before = {"status": deployment.status}
    deployment.refresh_from_db()
    audit_record(action="delete", obj=deployment, before=before, after={"status": deployment.status})
    event_record(
        deployment=deployment,
        kind=DeploymentEvent.Kind.STATUS,
        message="Deletion requested.",
        data={"status": "DELETING"},
    )
    reconcile_enqueue(deployment_id=deployment.pk)
    return deployment


def deployments_requeue_stale(*, stale_after: timedelta = timedelta(seconds=15), now: datetime | None = None) -> int:
    """Re-queue deployments that need a pass nobody scheduled: overdue active ones (a lost task or a killed
    worker heals itself) and running ones whose job died or was preempted behind their back (they become DEGRADED,
    and retry or wait to be admitted again)."""
    now = now or timezone.now()
    cutoff = now - stale_after
    overdue = UseCaseDeployment.objects.filter(status__in=DeploymentStatus.ACTIVE).filter(_overdue(cutoff))
    broken = ComponentDeployment.objects.filter(
        retired_at__isnull=True,
        status=ComponentStatus.RUNNING,
        # QUEUED: preempted (jobs.services.preemption) or interrupted, back in line while the row says RUNNING.
        job__status__in=[Job.Status.FAILED, Job.Status.CANCELLED, Job.Status.QUEUED],
    ).exclude(deployment__status__in=[DeploymentStatus.DELETING, DeploymentStatus.DELETED])
    ids = set(overdue.values_list("pk", flat=True)[:1000]) | set(broken.values_list("deployment_id", flat=True)[:1000])
    for deployment_id in ids:
        reconcile_enqueue(deployment_id=deployment_id)
    return len(ids)


def _overdue(cutoff: datetime) -> Q:
    return (
        Q(next_reconcile_at__lt=cutoff)
        | Q(next_reconcile_at__isnull=True, last_reconciled_at__lt=cutoff)
        | Q(next_reconcile_at__isnull=True, last_reconciled_at__isnull=True, created_at__lt=cutoff)
    )
