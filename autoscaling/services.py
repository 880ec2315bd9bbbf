"""Writes of autoscaling: a deployment's policies, and the autoscaler's pass (decide, scale, record)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.services import audit_record
from autoscaling import endpoint_queue, prewarm, selectors
from autoscaling.coldstart import ColdStart
from autoscaling.decide import HOLD, TO_ZERO, UP, WAKE, LastChange, decide
from autoscaling.models import AutoscalingPolicy, ScalingDecision
from autoscaling.policy import Policy, policy_errors, policy_from
from autoscaling.pools import pool_take, pools_resize
from core.exceptions import Conflict, ServiceError, ValidationError
from deployments.models import DeploymentEvent, UseCaseDeployment
from deployments.records import event_record
from deployments.services import component_scale_to_zero, deployment_scale, deployment_wake
from deployments.state import ComponentStatus, DeploymentStatus
from jobs.validation import MAX_REPLICAS
from templates_app.routing import plan_routing
from tenancy.selectors import require_write

logger = logging.getLogger(__name__)
# The autoscaler acts on deployments that serve; one changing (UPDATING) is left until its change is over.
SCALABLE = frozenset({DeploymentStatus.RUNNING, DeploymentStatus.DEGRADED, DeploymentStatus.SCALED_TO_ZERO})


@transaction.atomic
def policy_set(*, user, deployment: UseCaseDeployment, components: dict) -> dict[str, tuple[Policy, str]]:
    """Set the deployment's own policy of some components ({key: fields}), each laid over the one that applies now
    (the template's or the last one set); `null` for a component drops its own policy (the template's applies)."""
    require_write(user, deployment.tenant_id)
    if not isinstance(components, dict) or not components:
        raise ValidationError({"components": ['An object such as {"llm": {"min_replicas": 1}} is required.']})
    keys = selectors.component_keys(deployment)
    current = selectors.effective_policies(deployment)
    errors: dict[str, list[str]] = {}
    chosen: dict[str, Policy | None] = {}
    for key, data in components.items():
        prefix = f"components.{key}."
        if key not in keys:
            errors[f"components.{key}"] = [f"Unknown component; the deployment has {', '.join(keys)}."]
            continue
        if data is None:
            chosen[key] = None
            continue
        base = current.get(key, (Policy(min_replicas=1, max_replicas=1), ""))[0]
        found = policy_errors(data, max_replicas=MAX_REPLICAS, prefix=prefix)
        if not found:
            merged = {**base.to_dict(), **data}
            found = policy_errors(merged, max_replicas=MAX_REPLICAS, prefix=prefix)
        errors.update(found)
        if not found:
            chosen[key] = policy_from(data, base=base)
    if errors:
        raise ValidationError(errors)
    before = {key: policy.to_dict() for key, (policy, _) in current.items() if key in chosen}
    for key, policy in chosen.items():
        if policy is None:
            AutoscalingPolicy.objects.filter(deployment=deployment, component_key=key).delete()
            continue
        AutoscalingPolicy.objects.update_or_create(
            deployment=deployment, component_key=key, defaults={**policy.to_dict(), "updated_by": user}
        )
    after = selectors.effective_policies(deployment)
    audit_record(
        action="autoscaling_policy",
        obj=deployment,
        before=before,
        after={key: after[key][0].to_dict() for key in chosen if key in after},
    )
    # A minimum above zero for a component at zero is a scale from zero: it wakes now, not on the next request.
    replicas = selectors.current_replicas(deployment) if deployment.status == DeploymentStatus.SCALED_TO_ZERO else {}
    at_zero = {key for key, count in replicas.items() if count == 0}
    raised = sorted(key for key in at_zero & set(chosen) if after[key][0].min_replicas > 0 and after[key][0].enabled)
    if raised:
        minimum = ", ".join(f"{key} min {after[key][0].min_replicas}" for key in raised)
        deployment_wake_up(user=user, deployment=deployment, now=timezone.now(), reason=f"policy set to {minimum}")
    return after


@dataclass
class TickResult:
    deployments: int = 0
    decisions: int = 0
    skipped: int = 0  # locked by another worker, or a change rolling out
    standbys_changed: int = 0  # warm-pool standbys started or stopped to follow the components at zero
    errors: list[str] = field(default_factory=list)


def _last_changes(deployment: UseCaseDeployment) -> dict[str, LastChange]:
    last: dict[str, LastChange] = {}
    for row in ScalingDecision.objects.filter(deployment=deployment).order_by("-id")[:50]:
        last.setdefault(row.component_key, LastChange(at=row.created_at.timestamp(), direction=row.direction))
    return last


def _window_seconds(policy: Policy) -> int:
    return max(
        policy.scale_up_window_s,
        policy.scale_down_window_s,
        policy.idle_timeout_s if policy.min_replicas == 0 else 0,
        60,
    )


def deployment_autoscale(*, deployment_id, now: datetime) -> list[ScalingDecision]:
    """One autoscaler pass over one deployment: decide per component with a policy, scale them together through the
    scale service (no downtime), record each decision and an event. All of it in one transaction under the
    deployment's row lock: a worker that dies half-way leaves nothing half-made, and a second worker skips."""
    with transaction.atomic():
        deployment = (
            UseCaseDeployment.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("template", "cluster")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None or deployment.status not in SCALABLE or deployment.pending_revision_id:
            return []
        policies = {k: p for k, (p, _) in selectors.effective_policies(deployment).items() if p.enabled}
        if not policies:
            return []
        replicas = selectors.current_replicas(deployment)
        held = _prewarm_due(deployment, policies, now)
        if any(replicas[key] == 0 for key in held):
            # A ramp is forecast within the cold start: wake now, so its first requests find a replica running.
            key = next(key for key in held if replicas[key] == 0)
            window, lead = held[key]
            deployment_wake_up(user=None, deployment=deployment, now=now, reason=window.reason(lead))
            return list(ScalingDecision.objects.filter(deployment=deployment, direction=WAKE).order_by("-id")[:1])
        # Inside a pre-warm window the component holds at least one replica (no idle timeout to zero).
        policies = {k: replace(p, min_replicas=max(1, p.min_replicas)) if k in held else p for k, p in policies.items()}
        last = _last_changes(deployment)
        # The live queue of the endpoint (Redis, this tick): it belongs to the component the endpoint routes to.
        routed = plan_routing(deployment.plan)["component"]
        waiting = endpoint_queue.length(deployment_id=deployment.pk) if routed in policies else 0
        planned = []
        for key, policy in policies.items():
            since = now - timedelta(seconds=_window_seconds(policy) + 120)  # the minutes that overlap the window
            samples = selectors.samples_for(deployment_id=deployment.pk, key=key, since=since, until=now)
            decision = decide(
                current=replicas[key],
                samples=samples,
                policy=policy,
                now=now.timestamp(),
                target=selectors.slo_target(deployment, policy),
                last_change=last.get(key),
                queue_now=waiting if key == routed else 0,
            )
            if decision.direction != HOLD:
                planned.append((key, policy, decision))
        if not planned:
            return []
        # Scaling to zero stops the job (the zero service, not the in-place scale); other changes wait a pass.
        to_zero = [item for item in planned if item[2].direction == TO_ZERO]
        if to_zero:
            return _scale_to_zero(deployment, to_zero, replicas, now)
        revision = None
        refused = ""
        try:
            revision = deployment_scale(
                user=None, deployment=deployment, scale={key: decision.desired for key, _, decision in planned}
            )
        except (ValidationError, Conflict) as error:
            refused = "; ".join(f"{k}: {' '.join(v)}" for k, v in (error.errors or {}).items()) or str(error.detail)
        pooled = _pool_scale_ups(deployment, planned, replicas, now) if revision else {}
        capacity = (revision.change.get("capacity") if revision else None) or {}
        predicted = parse_datetime(capacity["predicted_start"]) if capacity.get("predicted_start") else None
        records = []
        for key, policy, decision in planned:
            waiting = revision is not None and decision.direction == UP and not capacity.get("fits_now", True)
            outcome = (
                ScalingDecision.Outcome.REFUSED
                if revision is None
                else ScalingDecision.Outcome.WAITING
                if waiting
                else ScalingDecision.Outcome.APPLIED
            )
            reason = decision.reason
            if waiting:
                reason += (
                    f"; waiting for capacity, predicted start {predicted:%H:%M:%S}"
                    if predicted
                    else "; waiting for capacity"
                )
            if refused:
                reason += f"; refused: {refused}"
            taken = pooled.get(key)
            if taken:
                count, start = taken
                reason += f"; {count} from the warm pool, ready in about {start.total_s:.0f} s"
            records.append(
                ScalingDecision(
                    deployment=deployment,
                    component_key=key,
                    from_replicas=replicas[key],
                    to_replicas=decision.desired if revision else replicas[key],
                    direction=decision.direction,
                    outcome=outcome,
                    signal=policy.signal,
                    value=decision.signal_value,
                    target=decision.target,
                    reason=reason,
                    revision=revision.number if revision else None,
                    predicted_start=predicted if waiting else None,
                )
            )
        return _record(deployment, records)


def _prewarm_due(deployment, policies: dict, now: datetime) -> dict[str, tuple[prewarm.Window, float]]:
    """The components that scale to zero and are inside a scheduled pre-warm now (`autoscaling.prewarm`), read
    from the same stretch of yesterday's minute rollups: {key: (window, lead in seconds)}."""
    found = {}
    for key, policy in policies.items():
        if not policy.scales_to_zero:
            continue
        first = (now - timedelta(days=1, seconds=prewarm.QUIET_MINUTES * 60 + prewarm.HOLD_S)).replace(
            second=0, microsecond=0
        )
        until = now - timedelta(days=1) + timedelta(seconds=prewarm.HOLD_S)
        samples = selectors.samples_for(deployment_id=deployment.pk, key=key, since=first, until=until)
        if not samples:
            continue
        counts = {round(sample.at - 60): sample.requests for sample in samples}
        minutes = int((until - first).total_seconds() // 60)
        start = first.timestamp()
        per_minute = [float(counts.get(round(start + i * 60), 0.0)) for i in range(minutes)]
        row = deployment.components.filter(key=key, retired_at__isnull=True, is_candidate=False).first()
        if row is None:
            continue
        cold = selectors.cold_start_for(deployment=deployment, row=row, now=now, pooled=False).total_s
        due = prewarm.due(per_minute, first_minute_s=start, now_s=now.timestamp(), cold_start_s=cold)
        if due is not None:
            found[key] = due
    return found


def _pool_scale_ups(deployment, planned, replicas: dict, now: datetime) -> dict[str, tuple[int, ColdStart]]:
    """A warm pool serves scale-ups too: each replica added takes a running standby of its GPU type while one is
    left (its GPUs go to the component; it starts in seconds). {key: (standbys taken, the pooled start)}."""
    rows = {row.key: row for row in selectors.serving_rows(deployment)}
    taken = {}
    for key, _, decision in planned:
        row = rows.get(key)
        gpus = int((row.resources if row else {}).get("gpu_count") or 0)
        if decision.direction != UP or row is None or not gpus:
            continue
        count = 0
        for _ in range(decision.desired - replicas[key]):
            if not pool_take(cluster=deployment.cluster, gpu_type=row.resources.get("gpu_type") or "", gpu_count=gpus):
                break
            count += 1
        if count:
            taken[key] = (count, selectors.cold_start_for(deployment=deployment, row=row, now=now, pooled=True))
    return taken


def _record(deployment: UseCaseDeployment, records: list[ScalingDecision]) -> list[ScalingDecision]:
    """Store the decisions and one `autoscaled` event each (inside the caller's transaction)."""
    ScalingDecision.objects.bulk_create(records)
    for record in records:
        event_record(
            deployment=deployment,
            kind=DeploymentEvent.Kind.AUTOSCALED,
            message=f"{record.component_key}: {record.reason}",
            data={
                "component": record.component_key,
                "from": record.from_replicas,
                "to": record.to_replicas,
                "direction": record.direction,
                "outcome": record.outcome,
                "revision": record.revision,
                **record.data,
            },
        )
    return records


def _scale_to_zero(deployment, items, replicas: dict, now: datetime) -> list[ScalingDecision]:
    records = []
    for key, policy, decision in items:
        try:
            component_scale_to_zero(deployment=deployment, key=key, reason=decision.reason, now=now)
            outcome, reason = ScalingDecision.Outcome.APPLIED, decision.reason
        except Conflict as error:
            outcome, reason = ScalingDecision.Outcome.REFUSED, f"{decision.reason}; refused: {error.detail}"
        records.append(
            ScalingDecision(
                deployment=deployment,
                component_key=key,
                from_replicas=replicas[key],
                to_replicas=0 if outcome == ScalingDecision.Outcome.APPLIED else replicas[key],
                direction=TO_ZERO,
                outcome=outcome,
                signal=policy.signal,
                reason=reason,
            )
        )
    return _record(deployment, records)


def deployment_wake_up(*, user, deployment: UseCaseDeployment, now: datetime, reason: str = "") -> dict[str, ColdStart]:
    """Start every component at zero again (the first request arrived, or a user asked) and record each wake with
    its predicted cold start; returns {component key: cold start}. Nothing at zero: nothing happens."""
    reason = reason or "woken"
    with transaction.atomic():
        deployment = (
            UseCaseDeployment.objects.select_for_update(of=("self",))
            .select_related("template", "cluster")
            .get(pk=deployment.pk)
        )
        rows = list(
            deployment.components.filter(
                retired_at__isnull=True, is_candidate=False, status=ComponentStatus.SCALED_TO_ZERO
            ).select_related("job")
        )
        starts = {}
        for row in rows:
            gpus = int(row.resources.get("gpu_count") or 0)
            pooled = bool(gpus) and pool_take(
                cluster=deployment.cluster, gpu_type=row.resources.get("gpu_type") or "", gpu_count=gpus
            )
            starts[row.key] = selectors.cold_start_for(deployment=deployment, row=row, now=now, pooled=pooled)
        startups = {key: start.total_s for key, start in starts.items()}
        woken = deployment_wake(user=user, deployment=deployment, now=now, reason=reason, startups=startups)
        replicas = selectors.current_replicas(deployment)
        records = []
        for key in woken:
            start = starts[key]
            parts = f"image {start.image_s:.0f} s, weights {start.weights_s:.0f} s, warm-up {start.warmup_s:.0f} s"
            if start.pooled:
                parts = f"from the warm pool: weights {start.weights_s:.0f} s, attach {start.warmup_s:.0f} s"
            records.append(
                ScalingDecision(
                    deployment=deployment,
                    component_key=key,
                    from_replicas=0,
                    to_replicas=replicas[key],
                    direction=WAKE,
                    reason=f"{reason}: 0 → {replicas[key]} replicas; cold start about {start.total_s:.0f} s ({parts})",
                    data={"cold_start": start.to_dict()},
                )
            )
        _record(deployment, records)
        return {key: starts[key] for key in woken}


def autoscale_all(*, now: datetime) -> TickResult:
    """The beat task's pass: every serving deployment that has a policy, each in its own transaction."""
    result = TickResult()
    with_policies = set(AutoscalingPolicy.objects.filter(enabled=True).values_list("deployment_id", flat=True))
    candidates = UseCaseDeployment.objects.filter(status__in=SCALABLE).select_related("template")
    for deployment in candidates:
        if deployment.pk not in with_policies and not selectors.template_policies(deployment):
            continue
        result.deployments += 1
        try:
            result.decisions += len(deployment_autoscale(deployment_id=deployment.pk, now=now))
        except ServiceError as error:  # one deployment's trouble never stops the others'
            logger.warning("autoscaling %s: %s", deployment.pk, error)
            result.errors.append(f"{deployment.pk}: {error}")
    # After the decisions: pools sized by components at zero follow the ones that went to zero or woke.
    result.standbys_changed = pools_resize()
    return result
