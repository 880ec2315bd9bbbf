"""Where a deployment goes and what it costs there: the target checks, the capacity and cost of a plan on a cluster,
placement on a cluster set (the member where it starts first or costs least, and the runner-up), and the preview
that shows all of it without writing anything. Creation (`deployments.services.core`) and changes
(`deployments.services.lifecycle`) place through here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from core.exceptions import Conflict, ValidationError
from deployments.services.identity import deployment_name_check, gpu_type_errors_on_parameters
from jobs import selectors as job_selectors
from jobs.models import Cluster, ClusterSet
from jobs.placement import choose
from jobs.services.sets import placement_record
from sizing.planning import PlacedPlan, plan_for_cluster
from sizing.search import Load
from sizing.selectors import usecase_resolve
from templates_app.plans import Plan
from templates_app.resolver import resolve
from tenancy.selectors import require_write


def target_check(*, user, project, cluster) -> None:
    """The cluster is the project's tenant's, and the user may write there."""
    if project.tenant_id != cluster.tenant_id:
        raise ValidationError({"cluster_id": ["The cluster belongs to another tenant than the project."]})
    require_write(user, project.tenant_id)


def plan_capacity_and_cost(*, plan: Plan, cluster, now: datetime | None = None, forecast: bool = True) -> dict:
    """GPUs, capacity and hourly cost of a plan on a cluster: what a preview shows and a deploy checks.

    Without `forecast` the capacity is only what a create checks, the components that could never fit even on the
    empty cluster (`never_fits`): no run of the cluster's forecast (four reads and ~10 ms of CPU per create) for a
    predicted start that nothing reads."""
    resources = [component.resources for component in plan.components]
    if forecast:
        capacity = job_selectors.cluster_capacity_check(cluster=cluster, resources_list=resources, now=now)
    else:
        reasons = [job_selectors.cluster_never_fits_reason(cluster=cluster, resources=r) for r in resources]
        capacity = {"never_fits": [{"index": i, "reason": reason} for i, reason in enumerate(reasons) if reason]}
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
    given=None,
) -> tuple[Cluster, dict]:
    """The member of a cluster set a deployment goes to: on each ACTIVE member the template is placed and sized as on
    a cluster, then the whole stack's predicted start (the member's forecast) and hourly cost (its prices) are ranked
    by `strategy` (default the set's). Returns the cluster and the placement to record (choice, runner-up, all).
    `given`: the parameter names the user chose, as for `plan_placed` (a deployment placed again keeps them)."""
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
                template=template,
                parameters=parameters,
                cluster=cluster,
                usecase_id=usecase_id,
                load=load,
                given=given,
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


def target_resolve(*, user, template, project, cluster, cluster_set, parameters, usecase_id, load, strategy):
    """The cluster to deploy on: the one given, or the one a cluster set chooses (with its placement), checked to be
    the project's tenant's and written to by the caller."""
    if (cluster is None) == (cluster_set is None):
        raise ValidationError({"cluster_id": ["Give a cluster or a cluster set (not both)."]})
    placement = None
    if cluster_set is None:
        if strategy:
            raise ValidationError({"strategy": ["A strategy chooses among a cluster set's members."]})
    else:
        cluster, placement = deployment_place(
            user=user,
            template=template,
            project=project,
            cluster_set=cluster_set,
            parameters=parameters,
            usecase_id=usecase_id,
            load=load,
            strategy=strategy,
        )
    target_check(user=user, project=project, cluster=cluster)
    return cluster, placement


def target_plan(
    *,
    user,
    template,
    project,
    cluster,
    cluster_set,
    parameters,
    usecase_id,
    load,
    strategy,
    name: str = "",
    forecast: bool = True,
) -> tuple[Cluster, dict | None, PlacedPlan, dict]:
    """What a preview shows and a create records: the cluster (`target_resolve`) and its placement, the plan placed
    on it, and its capacity and cost. A `name` is checked free on the cluster before the plan is placed. A create
    asks for no `forecast` (`plan_capacity_and_cost`): it checks only that the stack could ever fit."""
    cluster, placement = target_resolve(
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
    if name:
        deployment_name_check(cluster=cluster, name=name)
    placed = plan_placed(template=template, parameters=parameters, cluster=cluster, usecase_id=usecase_id, load=load)
    return cluster, placement, placed, plan_capacity_and_cost(plan=placed.plan, cluster=cluster, forecast=forecast)


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
    )
    plan = placed.plan
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
