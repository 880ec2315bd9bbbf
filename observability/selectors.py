"""Reads over the rollups: SLO attainment, error budget and burn rate; Prometheus-shaped range queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, Sum, Value

from deployments.models import UseCaseDeployment
from observability.models import Alert, AlertRule, DeploymentMonitoring, MetricRollup, NotificationChannel, SloHour
from observability.workload import TARGETS, targets_of
from tenancy.selectors import scope_to_user
from usecases.models import UseCase

# The windows the SLO is read over: the SRE workbook's alert pairs (5m/1h, 30m/6h) and the 30-day budget period.
WINDOWS = {"5m": timedelta(minutes=5), "30m": timedelta(minutes=30), "1h": timedelta(hours=1),
           "6h": timedelta(hours=6), "30d": timedelta(days=30)}  # fmt: skip
BUDGET_WINDOW = "30d"
COST_WINDOWS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "30d": timedelta(days=30)}
DEFAULT_OBJECTIVE = Decimal("0.99")


@dataclass(frozen=True)
class WindowAttainment:
    requests: float
    errors: float
    good: dict[str, float | None]  # per target: requests within it (None: no target)

    def attainment(self, target: str) -> float | None:
        good = self.good.get(target)
        if good is None or not self.requests:
            return None
        return min(1.0, good / self.requests)


def monitored_deployments(*, user):
    """Deployments whose metrics the caller may read: those of their tenants (another tenant's is a 404)."""
    return scope_to_user(UseCaseDeployment.objects.all(), user)


def alert_list(*, user):
    """Alerts of the caller's deployments."""
    queryset = Alert.objects.select_related("rule", "deployment", "acknowledged_by")
    return scope_to_user(queryset, user, tenant_field="deployment__tenant")


def alert_rule_list(*, user):
    return scope_to_user(AlertRule.objects.select_related("deployment"), user, tenant_field="deployment__tenant")


def channel_list(*, user):
    return scope_to_user(NotificationChannel.objects.select_related("tenant"), user)


def deployment_objective(deployment: UseCaseDeployment) -> Decimal:
    monitoring = DeploymentMonitoring.objects.filter(deployment=deployment).values_list("objective", flat=True).first()
    return monitoring if monitoring is not None else DEFAULT_OBJECTIVE


def attainment_windows(*, deployment_ids: list, now: datetime) -> dict:
    """{deployment id: {window: WindowAttainment}} over the LLM components, in one SQL statement: the windows up to
    6 h (and the current hour) summed from the minute rollups, the 30 days from the hourly SLO sums plus the current
    hour's minutes, both read by index and aggregated together."""
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    columns = ("requests", "errors", *(f"{t}_good" for t in TARGETS))
    minutes = (
        MetricRollup.objects.filter(
            deployment_id__in=deployment_ids, is_llm=True, start__gte=now - WINDOWS["6h"], start__lt=now
        )
        .values(d=F("deployment_id"), t=F("start"), hourly=Value(0), **{f"c_{c}": F(c) for c in columns})
        .order_by()
    )
    hours = (
        SloHour.objects.filter(
            deployment_id__in=deployment_ids, hour__gte=now - WINDOWS[BUDGET_WINDOW], hour__lt=this_hour
        )
        .values(d=F("deployment_id"), t=F("hour"), hourly=Value(1), **{f"c_{c}": F(c) for c in columns})
        .order_by()
    )
    adapt = connection.ops.adapt_datetimefield_value
    conditions = {name: ("hourly = 0 AND t >= %s", [adapt(now - span)]) for name, span in WINDOWS.items()}
    conditions[BUDGET_WINDOW] = ("(hourly = 1 OR t >= %s)", [adapt(this_hour)])
    select, params = [], []
    for condition, values in conditions.values():
        for column in columns:
            select.append(f"SUM(CASE WHEN {condition} THEN c_{column} END)")
            params.extend(values)
    minutes_sql, minutes_params = minutes.query.sql_with_params()
    hours_sql, hours_params = hours.query.sql_with_params()
    sql = f"SELECT d, {', '.join(select)} FROM ({minutes_sql} UNION ALL {hours_sql}) AS u GROUP BY d"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *minutes_params, *hours_params])
        fetched = cursor.fetchall()
    to_pk = UseCaseDeployment._meta.pk.to_python
    result = {}
    for d, *sums in fetched:
        values = iter(sums)
        result[to_pk(d)] = {
            name: _window(dict(zip(columns, (next(values) for _ in columns), strict=True))) for name in conditions
        }
    return result


def _window(sums: dict) -> WindowAttainment:
    return WindowAttainment(
        requests=sums["requests"] or 0.0,
        errors=sums["errors"] or 0.0,
        good={t: sums[f"{t}_good"] for t in TARGETS},
    )


def deployment_slo(*, deployment: UseCaseDeployment, now: datetime) -> dict:
    """Objectives, attainment per window, error budget left and burn rate, per latency target."""
    usecase = UseCase.objects.filter(unique_id=deployment.usecase_id).first() if deployment.usecase_id else None
    targets = targets_of(usecase)
    objective = deployment_objective(deployment)
    windows = attainment_windows(deployment_ids=[deployment.pk], now=now).get(deployment.pk, {})
    return slo_summary(targets=targets, objective=objective, windows=windows, usecase_id=deployment.usecase_id or None)


def slo_summary(*, targets: dict, objective: Decimal, windows: dict, usecase_id: str | None) -> dict:
    budget = 1 - float(objective)
    empty = WindowAttainment(requests=0.0, errors=0.0, good={})
    windows = {name: windows.get(name, empty) for name in WINDOWS}
    objectives = []
    for target, seconds in targets.items():
        attainment = {name: w.attainment(target) for name, w in windows.items()}
        burn = {name: None if a is None else round((1 - a) / budget, 4) for name, a in attainment.items()}
        month = attainment.get(BUDGET_WINDOW)
        objectives.append(
            {
                "target": target,
                "threshold_s": seconds,
                "objective": float(objective),
                "attainment": {k: None if v is None else round(v, 6) for k, v in attainment.items()},
                "burn_rate": burn,
                "error_budget_remaining": None if month is None else round(1 - (1 - month) / budget, 6),
                "met": None if month is None else month >= float(objective),
            }
        )
    volume = {name: {"requests": w.requests, "errors": w.errors} for name, w in windows.items()}
    return {"usecase_id": usecase_id, "objective": float(objective), "objectives": objectives, "volume": volume}


def cost_windows(*, deployment_ids: list, now: datetime) -> dict:
    """{deployment id: {window: dollars}} over 1h / 6h / 30d, in one query."""
    sums = {name: Sum("cost", filter=Q(start__gte=now - span)) for name, span in COST_WINDOWS.items()}
    rows = (
        MetricRollup.objects.filter(
            deployment_id__in=deployment_ids, start__gte=now - max(COST_WINDOWS.values()), start__lt=now
        )
        .values("deployment_id")
        .annotate(**sums)
    )
    return {row["deployment_id"]: {name: row[name] or Decimal(0) for name in COST_WINDOWS} for row in rows}


@dataclass(frozen=True)
class SloStatus:
    """One deployment's SLO at a glance: its worst target over the last hour and 30 days, the least budget left."""

    deployment: UseCaseDeployment
    objective: float
    hour: float | None  # the lowest attainment of its targets over the last hour (None: no traffic or no targets)
    month: float | None
    budget_left: float | None
    firing: int

    @property
    def state(self) -> str:
        """meets / misses / no data: on the 30-day window, as the error budget counts it."""
        if self.month is None:
            return "no data"
        return "meets" if self.month >= self.objective else "misses"


def deployments_slo_status(*, deployments: list[UseCaseDeployment], now: datetime) -> list[SloStatus]:
    """The SLO status of each deployment given, in four queries whatever their number."""
    ids = [d.pk for d in deployments]
    if not ids:
        return []
    windows = attainment_windows(deployment_ids=ids, now=now)
    objectives = dict(
        DeploymentMonitoring.objects.filter(deployment_id__in=ids).values_list("deployment_id", "objective")
    )
    usecase_ids = {d.usecase_id for d in deployments if d.usecase_id}
    usecases = {u.unique_id: u for u in UseCase.objects.filter(unique_id__in=usecase_ids)}
    firing = dict(
        Alert.objects.filter(deployment_id__in=ids, state=Alert.State.FIRING)
        .order_by()
        .values_list("deployment_id")
        .annotate(n=Count("pk"))
    )
    rows = []
    for deployment in deployments:
        objective = float(objectives.get(deployment.pk, DEFAULT_OBJECTIVE))
        seen = windows.get(deployment.pk, {})
        targets = targets_of(usecases.get(deployment.usecase_id))

        def worst(window: str, seen=seen, targets=targets) -> float | None:
            shares = [seen[window].attainment(t) for t in targets if window in seen]
            shares = [s for s in shares if s is not None]
            return min(shares) if shares else None

        month = worst(BUDGET_WINDOW)
        rows.append(
            SloStatus(
                deployment=deployment,
                objective=objective,
                hour=worst("1h"),
                month=month,
                budget_left=None if month is None else 1 - (1 - month) / (1 - objective),
                firing=firing.get(deployment.pk, 0),
            )
        )
    return rows
