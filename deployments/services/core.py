"""Writes for deployments: create, preview and delete.

The reconcile loop itself lives in deployments.reconciler; everything here is called by the API, the CLI,
the console and the admin alike.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from billing.budgets import budget_cap_check
from core.exceptions import Conflict, IdempotencyMismatch, ValidationError
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from deployments.reconciler import deployment_reconcile
from deployments.records import component_row, event_record, reconcile_enqueue, revision_record
from deployments.services.identity import (
    deployment_name_check,
    deployment_name_generate,
    gpu_type_errors_on_parameters,
    request_fingerprint,
)
from deployments.state import ComponentStatus, DeploymentStatus
from jobs import selectors as job_selectors
from jobs.models import Cluster, ClusterSet, Job
from jobs.placement import choose
from jobs.services.sets import placement_record
from sizing.planning import PlacedPlan, plan_for_cluster
from sizing.search import Load
from sizing.selectors import usecase_resolve
from templates_app.plans import Plan
from templates_app.resolver import resolve
from tenancy.selectors import require_write

logger = logging.getLogger(__name__)


def _check_target(*, user, project, cluster) -> None:
    errors = {}
    if project.tenant_id != cluster.tenant_id:
        errors["cluster_id"] = ["The cluster belongs to another tenant than the project."]
    if errors:
        raise ValidationError(errors)
    require_write(user, project.tenant_id)


def plan_capacity_and_cost(*, plan: Plan, cluster, now: datetime | None = None) -> dict:
    """GPUs, capacity and hourly cost of a plan on a cluster: what a preview shows and a deploy checks."""
    resources = [component.resources for component in plan.components]
    capacity = job_selectors.cluster_capacity_check(cluster=cluster, resources_list=resources, now=now)
    per_component = {
        component.key: job_selectors.estimate_hourly_cost(cluster=cluster, resources=component.resources)
        for component in plan.components
    }
    return {
        "capacity": capacity,
        "hourly_cost_by_component": {key: str(cost) for key, cost in per_component.items()},
        "estimated_hourly_cost": str(sum(per_component.values(), Decimal("0"))),
    }


def plan_placed(
    *, template, parameters: dict, cluster, usecase_id: str = "", load: dict | None = None, given=None
) -> PlacedPlan:
    """Resolve, then fit the plan to the cluster: GPU types placed, LLMs marked for sizing sized for the use case
    and load (sizing.planning). `given`: the parameter names the user chose (default: those in `parameters`)."""
    plan = resolve(template, parameters)
    usecase = usecase_resolve(usecase_id) if usecase_id else None
    if load and not usecase:
        raise ValidationError({"load": ["A load is sized for a use case: give usecase_id too."]})
    try:
        return plan_for_cluster(
            template=template,
            plan=plan,
            given=set(parameters) if given is None else set(given),
            cluster=cluster,
            usecase=usecase,
            load=Load(**(load or {})) if usecase else None,
        )
    except ValidationError as error:
        raise gpu_type_errors_on_parameters(error, template=template, plan=plan) from None


def deployment_place(
    *,
    user,
    template,
    project,
    cluster_set: ClusterSet,
    parameters: dict,
    usecase_id: str = "",
    load: dict | None = None,
    strategy: str | None = None,
    now: datetime | None = None,
) -> tuple[Cluster, dict]:
    """The member of a cluster set a deployment goes to: on each ACTIVE member the template is placed and sized as on
    a cluster, then the whole stack's predicted start (the member's forecast) and hourly cost (its prices) are ranked
    by `strategy` (default the set's). Returns the cluster and the placement to record (choice, runner-up, all)."""
    if cluster_set.tenant_id != project.tenant_id:
        raise ValidationError({"cluster_set_id": ["The cluster set belongs to another tenant than the project."]})
    if strategy is not None and strategy not in ClusterSet.Strategy.values:
        raise ValidationError({"strategy": [f"Must be one of {', '.join(ClusterSet.Strategy.values)}."]})
    require_write(user, project.tenant_id)
    resolve(template, parameters)  # errors in the parameters are the caller's, whatever the cluster
    now = now or timezone.now()
    candidates = []
    for cluster in cluster_set.clusters.all():
        if cluster.status != Cluster.Status.ACTIVE:
            candidates.append(
                job_selectors.placement_excluded(cluster=cluster, reason=f"The cluster is {cluster.status}.")
            )
            continue
        try:
            placed = plan_placed(
                template=template, parameters=parameters, cluster=cluster, usecase_id=usecase_id, load=load
            )
        except ValidationError as error:
            reason = "; ".join(f"{path}: {' '.join(map(str, messages))}" for path, messages in error.errors.items())
            candidates.append(job_selectors.placement_excluded(cluster=cluster, reason=reason))
            continue
        if placed.slo_errors:
            reason = "No configuration on this cluster meets the use case's SLOs."
            candidates.append(job_selectors.placement_excluded(cluster=cluster, reason=reason))
            continue
        resources = [component.resources for component in placed.plan.components]
        candidates.append(job_selectors.placement_candidate(cluster=cluster, resources_list=resources, now=now))
    placement = choose(candidates, strategy or cluster_set.strategy)
    if placement.chosen is None:
        if all(c.excluded.startswith("The cluster is") for c in placement.candidates):
            raise Conflict(placement.reason)
        raise ValidationError({"cluster_set_id": [placement.reason]})
    cluster = next(c for c in cluster_set.clusters.all() if str(c.pk) == placement.chosen.cluster_id)
    return cluster, {**placement_record(placement, now=now), "cluster_set_id": str(cluster_set.pk)}


def _target(*, user, template, project, cluster, cluster_set, parameters, usecase_id, load, strategy):
    """The cluster to deploy on: the one given, or the one a cluster set chooses (with its placement)."""
    if (cluster is None) == (cluster_set is None):
        raise ValidationError({"cluster_id": ["Give a cluster or a cluster set (not both)."]})
    if cluster_set is None:
        if strategy:
            raise ValidationError({"strategy": ["A strategy chooses among a cluster set's members."]})
        return cluster, None
    return deployment_place(
        user=user,
        template=template,
        project=project,
        cluster_set=cluster_set,
        parameters=parameters,
        usecase_id=usecase_id,
        load=load,
        strategy=strategy,
    )


def deployment_preview(
    *,
    user,
    template,
    project,
    parameters: dict,
    cluster=None,
    cluster_set: ClusterSet | None = None,
    strategy: str | None = None,
    usecase_id: str = "",
    load: dict | None = None,
) -> dict:
    """What a deploy would do, without writing anything: plan, waves, GPUs, capacity, hourly cost, and with a use
    case the sizing of its LLMs (an SLO no configuration meets is reported here, not raised). With a cluster set,
    the member it would go to, the runner-up and every member's start and cost (`placement`)."""
    cluster, placement = _target(
        user=user,
        template=template,
        project=project,
        cluster=cluster,
        cluster_set=cluster_set,
        parameters=parameters,
        usecase_id=usecase_id,
        load=load,
        strategy=strategy,
    )
    _check_target(user=user, project=project, cluster=cluster)
    placed = plan_placed(template=template, parameters=parameters, cluster=cluster, usecase_id=usecase_id, load=load)
    plan = placed.plan
    costing = plan_capacity_and_cost(plan=plan, cluster=cluster)
    capacity = costing["capacity"]
    return {
        "plan": plan.to_dict(redact=True),
        "waves": [list(wave) for wave in plan.waves],
        "start_order": [component.key for component in plan.components],
        "totals": plan.totals,
        "capacity": {
            "fits_now": capacity["fits_now"],
            "predicted_start": capacity.get("predicted_start"),
            "never_fits": capacity.get("never_fits", []),
            "free": capacity.get("free", {}),
        },
        "estimated_hourly_cost": costing["estimated_hourly_cost"],
        "hourly_cost_by_component": costing["hourly_cost_by_component"],
        "sizing": placed.report,
        "slo_errors": placed.slo_errors,
        "cluster_id": str(cluster.pk),
        "placement": placement,
    }


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
        _check_target(user=user, project=project, cluster=cluster)
    else:
        require_write(user, project.tenant_id)
    budget_cap_check(tenant_id=project.tenant_id, project_id=project.pk, action="new deployments")
    if idempotency_key and (replay := _idempotent_replay(project, idempotency_key, fingerprint)):
        return replay, False
    cluster, placement = _target(
        user=user,
        template=template,
        project=project,
        cluster=cluster,
        cluster_set=cluster_set,
        parameters=parameters,
        usecase_id=usecase_id,
        load=load,
        strategy=strategy,
    )
    _check_target(user=user, project=project, cluster=cluster)
    if name:
        deployment_name_check(cluster=cluster, name=name)
    placed = plan_placed(template=template, parameters=parameters, cluster=cluster, usecase_id=usecase_id, load=load)
    if placed.slo_errors:
        raise ValidationError(placed.slo_errors, detail="No configuration on this cluster meets the use case's SLOs.")
    plan = placed.plan
    costing = plan_capacity_and_cost(plan=plan, cluster=cluster)
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
    except IntegrityError:
        # A concurrent request won the race: with the same key, answer with its deployment; else it took the name.
        if idempotency_key and (replay := _idempotent_replay(project, idempotency_key, fingerprint)):
            return replay, False
        deployment_name_check(cluster=cluster, name=name)
        raise

    rows = ComponentDeployment.objects.bulk_create(
        [
            component_row(
                deployment=deployment,
                planned=component.to_dict(),
                status_message=_waiting_message(component.depends_on),
            )
            for component in plan.components
        ]
    )
    revision_record(
        deployment=deployment,
        kind=DeploymentRevision.Kind.CREATE,
        user=user,
        status=DeploymentRevision.Status.APPLIED,
        completed_at=timezone.now(),
        parameters=plan.parameters,
        template_version=plan.version,
        plan=stored_plan,
        components={component.key: component.resources for component in plan.components},
    )
    event_record(
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
    if settings.DEPLOYMENTS_FIRST_PASS_INLINE:
        _first_pass(deployment.pk)
    else:
        reconcile_enqueue(deployment_id=deployment.pk)
    return deployment, True


def _first_pass(deployment_id) -> None:
    """The first reconcile pass, here and now in the creating transaction rather than through the broker: the
    first wave is submitted with the deployment's rows, and a stack whose components start at once is RUNNING
    when the POST answers, without a worker. The pass runs in a savepoint: if it fails, only it is undone, and a
    worker takes over after the commit."""
    try:
        deployment_reconcile(deployment_id=deployment_id)
    except Exception:
        logger.exception("First reconcile pass of deployment %s failed; a worker takes over", deployment_id)
        reconcile_enqueue(deployment_id=deployment_id)


def _waiting_message(depends_on) -> str:
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
