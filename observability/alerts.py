"""Alert evaluation: rules (defaults, the template's `observability.alerts`, the API's) fire and resolve alerts.

The SLO rules are the Google SRE workbook's multi-window burn-rate alerts on a 30-day budget: page when both the
hour and its last 5 minutes burn faster than 14.4x (2% of the budget in an hour), ticket when both 6 hours and their
last 30 minutes burn faster than 6x. The short window makes an alert resolve soon after the burning stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from celery import current_app
from django.db import transaction

from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.records import event_record
from observability.models import Alert, AlertRule, Delivery, DeploymentMonitoring, MetricRollup, NotificationChannel
from observability.selectors import DEFAULT_OBJECTIVE, WINDOWS, attainment_windows, cost_windows
from observability.sketch import sketch_merge_json, sketch_quantile
from observability.template_rules import template_rules
from observability.workload import TARGETS

DELIVER_TASK = "observability.deliver_notification"
DEFAULT_RULES = (
    ("slo-fast-burn", AlertRule.Kind.BURN_RATE, AlertRule.Severity.PAGE,
     {"target": "any", "long_window": "1h", "short_window": "5m", "factor": 14.4}),
    ("slo-slow-burn", AlertRule.Kind.BURN_RATE, AlertRule.Severity.TICKET,
     {"target": "any", "long_window": "6h", "short_window": "30m", "factor": 6.0}),
    ("component-not-running", AlertRule.Kind.NOT_RUNNING, AlertRule.Severity.PAGE, {"minutes": 10}),
    ("deployment-degraded", AlertRule.Kind.DEGRADED, AlertRule.Severity.TICKET, {}),
)  # fmt: skip
WATCHED = (UseCaseDeployment.Status.RUNNING, UseCaseDeployment.Status.DEGRADED, UseCaseDeployment.Status.UPDATING)


@dataclass
class EvaluateResult:
    rules: int = 0
    fired: int = 0
    resolved: int = 0


def rules_ensure(*, deployments: list[UseCaseDeployment]) -> None:
    """The default rules and the template's (`observability.alerts`, read by observability.template_rules)."""
    rows = []
    for deployment in deployments:
        for name, kind, severity, params in DEFAULT_RULES:
            rows.append(
                AlertRule(
                    deployment=deployment, name=name, kind=kind, severity=severity, params=params, source="default"
                )
            )
        rules, _ = template_rules(deployment.template.observability)
        rows.extend(
            AlertRule(
                deployment=deployment,
                name=rule.name,
                kind=rule.kind,
                severity=rule.severity,
                params=rule.params,
                source="template",
            )
            for rule in rules
        )
    AlertRule.objects.bulk_create(rows, ignore_conflicts=True)


def alerts_evaluate(*, now: datetime) -> EvaluateResult:
    """Evaluate every enabled rule of every watched deployment; fire and resolve (a constant number of queries
    plus one transaction per change)."""
    deployments = list(UseCaseDeployment.objects.filter(status__in=WATCHED).select_related("template"))
    result = EvaluateResult()
    if not deployments:
        return result
    ids = [d.pk for d in deployments]
    rules_ensure(deployments=deployments)
    rules = list(AlertRule.objects.filter(deployment_id__in=ids, enabled=True))
    windows = attainment_windows(deployment_ids=ids, now=now)
    objectives = dict(
        DeploymentMonitoring.objects.filter(deployment_id__in=ids).values_list("deployment_id", "objective")
    )
    firing = {a.rule_id: a for a in Alert.objects.filter(rule__in=rules, state=Alert.State.FIRING)}
    stalled = _stalled_since(ids)
    costs = cost_windows(deployment_ids=ids, now=now)
    latencies = _latencies([r for r in rules if r.kind == AlertRule.Kind.LATENCY], now)
    by_id = {d.pk: d for d in deployments}
    for rule in rules:
        result.rules += 1
        deployment = by_id[rule.deployment_id]
        objective = objectives.get(deployment.pk, DEFAULT_OBJECTIVE)
        active, value, threshold, message = _check(
            rule,
            deployment,
            windows.get(deployment.pk, {}),
            objective,
            stalled.get(deployment.pk, {}),
            costs.get(deployment.pk, {}),
            now,
            latencies.get(rule.pk),
        )
        open_alert = firing.get(rule.pk)
        if active and open_alert is None:
            alert_fire(rule=rule, deployment=deployment, value=value, threshold=threshold, message=message, now=now)
            result.fired += 1
        elif not active and open_alert is not None:
            alert_resolve(alert=open_alert, deployment=deployment, value=value, now=now)
            result.resolved += 1
    return result


def _check(
    rule, deployment, windows, objective, stalled, costs, now, latency=None
) -> tuple[bool, float | None, float | None, str]:
    params = rule.params or {}
    if rule.kind == AlertRule.Kind.LATENCY:
        threshold = float(params.get("threshold_s", 0))
        if latency is None:  # no traffic in the window: nothing to judge
            return False, None, threshold, ""
        quantile = float(params.get("quantile", 0.95))
        message = (
            f"{params.get('component')} p{quantile * 100:g} latency {latency:.3f} s over {params.get('window', '5m')} "
            f"(threshold {threshold:g} s)"
        )
        return latency > threshold, round(latency, 6), threshold, message
    if rule.kind == AlertRule.Kind.BURN_RATE:
        budget = 1 - float(objective)
        targets = TARGETS if params.get("target", "any") == "any" else (params["target"],)
        long_name, short_name = params.get("long_window", "1h"), params.get("short_window", "5m")
        factor = float(params.get("factor", 14.4))
        worst = None
        for target in targets:
            burns = []
            for name in (long_name, short_name):
                attained = windows[name].attainment(target) if name in windows else None
                burns.append(None if attained is None else (1 - attained) / budget)
            if None in burns:
                continue
            binding = min(burns)
            if worst is None or binding > worst[0]:
                worst = (binding, target, burns)
        if worst is None:
            return False, None, factor, ""
        binding, target, (long_burn, short_burn) = worst
        message = (
            f"{target} burn rate {long_burn:.1f}x over {long_name} and {short_burn:.1f}x over {short_name} "
            f"(threshold {factor}x of a {float(objective):.3%} objective)"
        )
        return binding > factor, round(binding, 4), factor, message
    if rule.kind == AlertRule.Kind.NOT_RUNNING:
        minutes = float(params.get("minutes", 10))
        late = {key: since for key, since in stalled.items() if since <= now - timedelta(minutes=minutes)}
        longest = max(((now - s).total_seconds() / 60 for s in late.values()), default=0.0)
        message = f"not RUNNING for over {minutes:g} min: {', '.join(sorted(late))}" if late else ""
        return bool(late), round(longest, 2), minutes, message
    if rule.kind == AlertRule.Kind.DEGRADED:
        degraded = deployment.status == UseCaseDeployment.Status.DEGRADED
        return degraded, 1.0 if degraded else 0.0, 1.0, f"deployment DEGRADED: {deployment.status_message}"[:500]
    budget = Decimal(str(params.get("budget", 0)))
    window = params.get("window", "30d")
    spent = costs.get(window, Decimal(0))
    return spent > budget, float(spent), float(budget), f"cost ${spent:.2f} over {window} above ${budget:.2f}"


def _latencies(rules: list[AlertRule], now: datetime) -> dict:
    """{rule id: the component's end-to-end latency at the rule's percentile over its window} (one query for all
    the latency rules; sketches merged, so exact to 1%)."""
    if not rules:
        return {}
    spans = {rule.pk: WINDOWS.get((rule.params or {}).get("window", "5m"), WINDOWS["5m"]) for rule in rules}
    wanted = {(rule.deployment_id, (rule.params or {}).get("component")) for rule in rules}
    rows = MetricRollup.objects.filter(
        deployment_id__in={d for d, _ in wanted},
        component_key__in={c for _, c in wanted},
        start__gte=now - max(spans.values()),
        start__lt=now,
    ).values_list("deployment_id", "component_key", "start", "e2e")
    found: dict[tuple, list] = {}
    for deployment_id, key, start, e2e in rows:
        found.setdefault((deployment_id, key), []).append((start, e2e))
    result = {}
    for rule in rules:
        params = rule.params or {}
        since = now - spans[rule.pk]
        sketches = [
            e2e for start, e2e in found.get((rule.deployment_id, params.get("component")), []) if start >= since
        ]
        merged = sketch_merge_json(sketches)
        result[rule.pk] = sketch_quantile(merged, float(params.get("quantile", 0.95)))
    return result


def _stalled_since(ids: list) -> dict:
    """{deployment: {component key: since when it is not RUNNING}} for current rows that should run."""
    rows = ComponentDeployment.objects.filter(
        deployment_id__in=ids, retired_at__isnull=True, is_candidate=False, job_type="SERVICE"
    ).exclude(status=ComponentDeployment.Status.RUNNING)
    result: dict = {}
    for deployment_id, key, updated in rows.values_list("deployment_id", "key", "updated_at"):
        result.setdefault(deployment_id, {})[key] = updated
    return result


@transaction.atomic
def alert_fire(*, rule: AlertRule, deployment, value, threshold, message: str, now: datetime) -> Alert:
    """Record the alert, a deployment event, and a delivery to every enabled channel of the tenant."""
    previous = Alert.objects.filter(rule=rule).order_by("-fired_at").first()
    silenced = (
        previous.silenced_until if previous and previous.silenced_until and previous.silenced_until > now else None
    )
    alert = Alert.objects.create(
        rule=rule,
        deployment=deployment,
        value=value,
        threshold=threshold,
        message=message,
        fired_at=now,
        silenced_until=silenced,
    )
    event_record(
        deployment=deployment,
        kind="alert_firing",
        message=f"{rule.name}: {message}",
        data={"alert": alert.pk, "rule": rule.name, "value": value, "threshold": threshold},
    )
    _notify(alert, "firing", now)
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, deployment, value, now: datetime) -> None:
    updated = Alert.objects.filter(pk=alert.pk, state=Alert.State.FIRING).update(
        state=Alert.State.RESOLVED, resolved_at=now
    )
    if not updated:
        return
    alert.state, alert.resolved_at = Alert.State.RESOLVED, now
    event_record(
        deployment=deployment,
        kind="alert_resolved",
        message=f"{alert.rule.name} resolved",
        data={"alert": alert.pk, "rule": alert.rule.name, "value": value},
    )
    _notify(alert, "resolved", now)


def _notify(alert: Alert, event: str, now: datetime) -> None:
    if alert.silenced_until and alert.silenced_until > now:
        return
    channels = NotificationChannel.objects.filter(tenant_id=alert.deployment.tenant_id, enabled=True)
    deliveries = Delivery.objects.bulk_create(
        [Delivery(alert=alert, channel=c, event=event, next_attempt_at=now) for c in channels]
    )
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: deliveries_enqueue(ids=ids))


def notification_send(*, tenant_id, event: str, subject: str, body: dict, now: datetime) -> list[int]:
    """Notify every enabled channel of the tenant of something that is not an alert (a budget crossing 80%): the
    same deliveries, retries and back-off as alerts, enqueued when the transaction commits."""
    channels = NotificationChannel.objects.filter(tenant_id=tenant_id, enabled=True)
    deliveries = Delivery.objects.bulk_create(
        [Delivery(channel=c, event=event, subject=subject, body=body, next_attempt_at=now) for c in channels]
    )
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: deliveries_enqueue(ids=ids))
    return ids


def deliveries_enqueue(*, ids: list[int]) -> None:
    """Hand deliveries to the worker by task name (the task module imports this one)."""
    for delivery_id in ids:
        current_app.send_task(DELIVER_TASK, args=[delivery_id])
