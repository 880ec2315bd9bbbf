"""Reads for autoscaling: a deployment's effective policies, its decisions, and the metric samples the autoscaler
decides on."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet

from autoscaling.decide import Sample
from autoscaling.models import AutoscalingPolicy, ScalingDecision
from autoscaling.policy import Policy, policy_from
from core.exceptions import NotFound
from deployments.models import UseCaseDeployment
from observability.models import MetricRollup
from observability.sketch import sketch_from_json, sketch_quantile
from observability.workload import targets_of
from templates_app.selectors import template_content_at_version
from tenancy.selectors import scope_to_user
from usecases.models import Usecase


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
    """Replicas per component as the deployment asks for them now (its scale over the plan)."""
    replicas = {}
    for component in (deployment.plan or {}).get("components", []):
        key = component["key"]
        override = (deployment.scale or {}).get(key) or {}
        replicas[key] = int(override.get("replicas", component.get("resources", {}).get("replicas", 1)))
    return replicas


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
    usecase = Usecase.objects.filter(unique_id=deployment.usecase_id).first() if deployment.usecase_id else None
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
