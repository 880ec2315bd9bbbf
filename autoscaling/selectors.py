"""Reads for autoscaling: a deployment's effective policies, its decisions, and the metric samples the autoscaler
decides on."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from autoscaling.coldstart import ColdStart, StartModel, cold_start
from autoscaling.decide import Sample
from autoscaling.models import AutoscalingPolicy, ScalingDecision, WarmPool
from autoscaling.policy import Policy, policy_from
from autoscaling.pools import POOL_LABEL
from core.exceptions import NotFound
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.state import ComponentStatus
from jobs.models import Job
from observability.models import MetricRollup
from observability.sketch import sketch_from_json, sketch_quantile
from observability.workload import targets_of
from sizing.reference import PRECISION_BYTES, catalog
from templates_app.selectors import template_content_at_version
from tenancy.selectors import scope_to_user
from usecases.models import UseCase


def scaled_deployments(*, user) -> QuerySet[UseCaseDeployment]:
    """Deployments whose policies and decisions the caller may read (another tenant's is a 404)."""
    return scope_to_user(UseCaseDeployment.objects.select_related("template", "cluster"), user)


def decision_list(*, deployment: UseCaseDeployment) -> QuerySet[ScalingDecision]:
    return ScalingDecision.objects.filter(deployment=deployment).order_by("-id")


def template_policies(deployment: UseCaseDeployment) -> dict[str, dict]:
    """{component key: the `autoscaling:` block} of the template version the deployment runs."""
    template = deployment.template
    components = template.components
    if deployment.template_version != template.version:
        try:
            components = template_content_at_version(template=template, version=deployment.template_version).get(
                "components", []
            )
        except NotFound:
            components = []
    return {c["id"]: c["autoscaling"] for c in components or [] if isinstance(c.get("autoscaling"), dict)}


def component_keys(deployment: UseCaseDeployment) -> list[str]:
    return [c["key"] for c in (deployment.plan or {}).get("components", [])]


def current_replicas(deployment: UseCaseDeployment) -> dict[str, int]:
    """Replicas per component as the deployment asks for them now (its scale over the plan; 0 at zero)."""
    zero = set(
        deployment.components.filter(
            retired_at__isnull=True, is_candidate=False, status=ComponentStatus.SCALED_TO_ZERO
        ).values_list("key", flat=True)
    )
    replicas = {}
    for component in (deployment.plan or {}).get("components", []):
        key = component["key"]
        override = (deployment.scale or {}).get(key) or {}
        replicas[key] = 0 if key in zero else int(override.get("replicas", component["resources"].get("replicas", 1)))
    return replicas


def serving_rows(deployment: UseCaseDeployment) -> list[ComponentDeployment]:
    """The rows that serve each component now (not retired, not a candidate), with their jobs."""
    return list(deployment.components.filter(retired_at__isnull=True, is_candidate=False).select_related("job"))


def model_gb(deployment: UseCaseDeployment, key: str) -> float:
    """The weights one replica of the component loads (GB, all its GPUs): its model at the precision it was sized
    for (16-bit when not sized); 0 for a component without a model."""
    entry = ((deployment.plan or {}).get("sizing") or {}).get("components", {}).get(key) or {}
    chosen = entry.get("chosen") or {}
    planned = next((c for c in (deployment.plan or {}).get("components", []) if c["key"] == key), {})
    model = catalog().model(entry.get("model_id") or planned.get("model_id"))
    if model is None:
        return 0.0
    return model.params_b * PRECISION_BYTES.get(chosen.get("precision") or "bf16", 2)


def start_model(deployment: UseCaseDeployment) -> StartModel:
    return StartModel.of((deployment.cluster.inventory or {}).get("cold_start"))


def cold_start_for(
    *, deployment: UseCaseDeployment, row: ComponentDeployment, now: datetime, pooled: bool
) -> ColdStart:
    """How long this component takes to start again on its cluster (the row it starts from: its last job tells
    whether the image is still in the node's cache)."""
    model = start_model(deployment)
    stopped = row.job.completed_at if row.job_id and row.job else None
    cached = stopped is not None and (now - stopped).total_seconds() < model.image_cache_s
    return cold_start(model, model_gb=model_gb(deployment, row.key), image_cached=cached, pooled=pooled)


def effective_policies(deployment: UseCaseDeployment) -> dict[str, tuple[Policy, str]]:
    """{component key: (policy, source)} for the components that have one; source is "api" or "template"."""
    keys = set(component_keys(deployment))
    result = {key: (policy_from(block), "template") for key, block in template_policies(deployment).items()}
    rows = AutoscalingPolicy.objects.filter(deployment=deployment)
    for row in rows:
        data = {name: getattr(row, name) for name in Policy().to_dict()}
        result[row.component_key] = (policy_from(data), "api")
    return {key: value for key, value in result.items() if key in keys}


def slo_target(deployment: UseCaseDeployment, policy: Policy) -> float | None:
    """The target the policy scales to: its own, or for an SLO signal the use case's TTFT / ITL target."""
    if policy.target is not None:
        return policy.target
    usecase = UseCase.objects.filter(unique_id=deployment.usecase_id).first() if deployment.usecase_id else None
    return targets_of(usecase).get({"slo_ttft": "ttft", "slo_itl": "itl"}.get(policy.signal, ""))


def samples_for(*, deployment_id, key: str, since: datetime, until: datetime) -> list[Sample]:
    """The component's minute rollups in [since, until) as the decision's samples (p95 latencies from sketches)."""
    rows = MetricRollup.objects.filter(
        deployment_id=deployment_id,
        component_key=key,
        resolution=MetricRollup.Resolution.MINUTE,
        start__gte=since,
        start__lt=until,
    ).order_by("start")
    samples = []
    for row in rows:
        ttft = sketch_quantile(sketch_from_json(row.ttft), 0.95) if row.ttft else None
        itl = sketch_quantile(sketch_from_json(row.itl), 0.95) if row.itl else None
        samples.append(
            Sample(
                # A minute's figures are known at its end: that is the sample's moment.
                at=(row.start + timedelta(minutes=1)).timestamp(),
                replicas=round(row.replicas),
                requests=row.requests,
                concurrency=row.running,
                queue_depth=row.waiting,
                gpu_utilisation=row.gpu_utilisation,
                p95_ttft=ttft,
                p95_itl=itl,
            )
        )
    return samples


def pool_list(*, user) -> QuerySet[WarmPool]:
    """Warm pools of the clusters in the caller's tenants."""
    return scope_to_user(WarmPool.objects.select_related("cluster", "project"), user)


def pools_standby(pools) -> dict:
    """{pool id: (standby jobs running or starting, their hourly cost)} for a page of pools, in one query."""
    ids = {str(pool.pk) for pool in pools}
    result = {pool.pk: [0, Decimal(0)] for pool in pools}
    jobs = Job.objects.filter(labels__has_key=POOL_LABEL, status__in=Job.Status.ACTIVE).values_list(
        "labels", "hourly_rate"
    )
    for labels, rate in jobs:
        pool_id = labels.get(POOL_LABEL)
        if pool_id in ids:
            entry = result[uuid.UUID(pool_id)]
            entry[0] += 1
            entry[1] += rate or Decimal(0)
    return {key: (count, cost) for key, (count, cost) in result.items()}
