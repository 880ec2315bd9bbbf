"""Collection and retention of metric rollups: the beat task's work (writes, so services)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import Coalesce, Trunc

from deployments.models import ComponentDeployment, UseCaseDeployment
from jobs.drivers import get_driver
from jobs.models import Job
from observability.models import DeploymentMonitoring, DeploymentRollup, MetricRollup, SloHour, TokenDay
from observability.rollups import COMPONENT_COLUMNS, deployment_values
from observability.sketch import (
    STORED_QUANTILES,
    merged_sketch,
    quantile_column,
    sketch_count_at_most,
    sketch_from_values,
    sketch_to_json,
    stored_quantiles,
)
from observability.workload import expected_for, serving_for
from usecases.models import UseCase

logger = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)


@dataclass
class CollectResult:
    components: int = 0
    rows: int = 0
    skipped: int = 0  # components whose driver cannot read metrics


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def metrics_collect(*, now: datetime) -> CollectResult:
    """Read every running component's metrics for the whole minutes it has not reported yet and store rollups."""
    end = floor_minute(now)
    earliest = end - timedelta(minutes=settings.METRICS_CATCH_UP_MINUTES)
    components = list(
        ComponentDeployment.objects.filter(retired_at__isnull=True, is_candidate=False, job__status=Job.Status.RUNNING)
        .select_related("job", "job__cluster", "deployment")
        .defer("job__spec")  # encrypted; a driver's metrics read the job's kind column
    )
    result = CollectResult()
    if not components:
        return result
    deployment_ids = {c.deployment_id for c in components}
    last = {
        (row["deployment_id"], row["component_key"]): row["last"]
        for row in MetricRollup.objects.filter(
            deployment_id__in=deployment_ids, resolution=MetricRollup.Resolution.MINUTE, start__gte=earliest
        )
        .values("deployment_id", "component_key")
        .annotate(last=Max("start"))
    }
    monitoring = {m.deployment_id: m for m in DeploymentMonitoring.objects.filter(deployment_id__in=deployment_ids)}
    usecase_ids = {c.deployment.usecase_id for c in components if c.deployment.usecase_id}
    usecases = {u.unique_id: u for u in UseCase.objects.filter(unique_id__in=usecase_ids)}
    rows: list[MetricRollup] = []
    for component in components:
        deployment, job = component.deployment, component.job
        start = max(earliest, floor_minute(job.started_at or end) + MINUTE)
        previous = last.get((deployment.pk, component.key))
        if previous is not None:
            start = max(start, previous + MINUTE)
        if start >= end:
            continue
        expected = expected_for(
            deployment, usecase=usecases.get(deployment.usecase_id), monitoring=monitoring.get(deployment.pk)
        )
        replicas = int((job.resources or {}).get("replicas", 1) or 1)
        serving = serving_for(deployment, key=component.key, replicas=replicas, tokens=expected.tokens)
        try:
            windows = get_driver(job.cluster).read_metrics(
                job=job, start=start, end=end, profile=expected.profile, serving=serving
            )
        except NotImplementedError:
            result.skipped += 1
            continue
        result.components += 1
        per_minute = (job.hourly_rate or Decimal(0)) / 60
        targets = expected.targets if serving is not None else {}
        rows.extend(
            rollup_from_window(deployment, component.key, w, per_minute, targets, serving is not None) for w in windows
        )
    MetricRollup.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    result.rows = len(rows)
    if rows:
        first = min(r.start for r in rows)
        with transaction.atomic():  # the day's row always the sum of its hours
            slo_hours_refresh(start=first, end=end)
            token_days_refresh(start=first, end=end, deployment_ids={r.deployment_id for r in rows})
        deployment_rollups_refresh(start=first, end=end, deployment_ids={r.deployment_id for r in rows})
    return result


def deployment_rollups_refresh(
    *, start: datetime, end: datetime, deployment_ids=None, resolution: int = MetricRollup.Resolution.MINUTE
) -> int:
    """Recompute the DeploymentRollup of every window in [start, end) (of the deployments given, or all) from their
    component rows: idempotent, like the SLO hours, so a component reporting a minute late is merged in when it does.
    Two queries, whatever the number of deployments."""
    rows = MetricRollup.objects.filter(resolution=resolution, start__gte=start, start__lt=end)
    if deployment_ids is not None:
        rows = rows.filter(deployment_id__in=deployment_ids)
    windows: dict[tuple, list[dict]] = {}
    for row in rows.order_by("deployment_id", "start", "component_key").values(
        "deployment_id", "start", *COMPONENT_COLUMNS
    ):
        windows.setdefault((row["deployment_id"], row["start"]), []).append(row)
    merged = [
        DeploymentRollup(deployment_id=deployment_id, start=moment, resolution=resolution, **deployment_values(group))
        for (deployment_id, moment), group in windows.items()
    ]
    keys = ("id", "deployment", "start", "resolution")
    DeploymentRollup.objects.bulk_create(
        merged,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["deployment", "start", "resolution"],
        update_fields=[f.name for f in DeploymentRollup._meta.concrete_fields if f.name not in keys],
    )
    return len(merged)


SLO_SUMS = ("requests", "errors", "ttft_good", "itl_good", "e2e_good")
SERVED_SUMS = ("tokens", "all_requests")
DAY = timedelta(days=1)


def slo_hours_refresh(*, start: datetime, end: datetime, deployment_ids=None) -> int:
    """Recompute the SloHour rows of every hour touching [start, end) from the rollups (idempotent: an hour is
    summed whole again, so a late or repeated collection cannot count twice): the SLO sums of the LLM rollups, the
    tokens and requests of all of them. Two queries."""
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    rollups = MetricRollup.objects.filter(start__gte=first_hour, start__lt=end)
    if deployment_ids is not None:
        rollups = rollups.filter(deployment_id__in=deployment_ids)
    llm = Q(is_llm=True)
    sums = (
        rollups.annotate(hour=Trunc("start", "hour", tzinfo=UTC))
        .values("deployment_id", "hour")
        .annotate(
            # the field's sum before the LLM sum takes its name
            tokens=Sum(F("prompt_tokens") + F("output_tokens")),
            all_requests=Sum("requests"),
            requests=Coalesce(Sum("requests", filter=llm), 0.0),
            errors=Coalesce(Sum("errors", filter=llm), 0.0),
            **{name: Sum(name, filter=llm) for name in SLO_SUMS[2:]},
        )
        .order_by()
    )
    columns = (*SLO_SUMS, *SERVED_SUMS)
    hours = [
        SloHour(deployment_id=row["deployment_id"], hour=row["hour"], **{n: row[n] for n in columns}) for row in sums
    ]
    SloHour.objects.bulk_create(
        hours, batch_size=1000, update_conflicts=True, unique_fields=["deployment", "hour"], update_fields=columns
    )
    return len(hours)


def token_days_refresh(*, start: datetime, end: datetime, deployment_ids=None) -> int:
    """Recompute the TokenDay rows of every UTC day touching [start, end) from that day's SloHour rows (so refresh
    the hours first): idempotent, each day summed whole again. Two queries."""
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    after_last = (end - timedelta(microseconds=1)).replace(hour=0, minute=0, second=0, microsecond=0) + DAY
    hours = SloHour.objects.filter(hour__gte=first_day, hour__lt=after_last)
    if deployment_ids is not None:
        hours = hours.filter(deployment_id__in=deployment_ids)
    sums = (
        hours.annotate(day=Trunc("hour", "day", tzinfo=UTC))
        .values("deployment_id", "day")
        .annotate(tokens=Sum("tokens"), requests=Sum("all_requests"))
        .order_by()
    )
    days = [
        TokenDay(deployment_id=r["deployment_id"], day=r["day"], tokens=r["tokens"], requests=r["requests"])
        for r in sums
    ]
    TokenDay.objects.bulk_create(
        days,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["deployment", "day"],
        update_fields=["tokens", "requests"],
    )
    return len(days)


def rollup_from_window(
    deployment: UseCaseDeployment, key: str, window, cost: Decimal, targets: dict[str, float], is_llm: bool
) -> MetricRollup:
    sketches = {name: sketch_from_values(getattr(window, name)) for name in ("ttft", "itl", "e2e")}
    good = {name: sketch_count_at_most(sketches[name], target) for name, target in targets.items()}
    quantiles = {column: v for name, sketch in sketches.items() for column, v in stored_quantiles(name, sketch).items()}
    return MetricRollup(
        deployment=deployment,
        component_key=key,
        is_llm=is_llm,
        resolution=MetricRollup.Resolution.MINUTE,
        start=window.start,
        requests=window.requests,
        errors=window.errors,
        prompt_tokens=window.prompt_tokens,
        output_tokens=window.output_tokens,
        running=window.running,
        waiting=window.waiting,
        gpu_utilisation=window.gpu_utilisation,
        kv_cache_usage=window.kv_cache_usage,
        cpu_utilisation=window.cpu_utilisation,
        replicas=window.replicas,
        cost=cost.quantize(Decimal("0.000001")),
        ttft=sketch_to_json(sketches["ttft"]) if sketches["ttft"].count else None,
        itl=sketch_to_json(sketches["itl"]) if sketches["itl"].count else None,
        e2e=sketch_to_json(sketches["e2e"]) if sketches["e2e"].count else None,
        ttft_good=good.get("ttft"),
        itl_good=good.get("itl"),
        e2e_good=good.get("e2e"),
        **quantiles,
    )


SUMMED = ("requests", "errors", "prompt_tokens", "output_tokens", "ttft_good", "itl_good", "e2e_good")
AVERAGED = ("running", "waiting", "gpu_utilisation", "kv_cache_usage", "cpu_utilisation", "replicas")


@dataclass
class CompactResult:
    hours: int = 0
    folded: int = 0  # minute rows folded into hourly ones
    purged: int = 0  # rows past the retention


def metrics_compact(*, now: datetime, max_hours: int = 48) -> CompactResult:
    """Fold minute rollups older than the minute retention into hourly ones (an hour per transaction), then purge."""
    result = CompactResult()
    cutoff = (now - timedelta(days=settings.METRICS_MINUTE_RETENTION_DAYS)).replace(minute=0, second=0, microsecond=0)
    minutes = MetricRollup.objects.filter(resolution=MetricRollup.Resolution.MINUTE)
    for _ in range(max_hours):
        oldest = minutes.filter(start__lt=cutoff).order_by("start").values_list("start", flat=True).first()
        if oldest is None:
            break
        hour = oldest.replace(minute=0, second=0, microsecond=0)
        result.folded += _fold_hour(hour)
        result.hours += 1
    purge_before = now - timedelta(days=settings.METRICS_RETENTION_DAYS)
    result.purged, _ = MetricRollup.objects.filter(start__lt=purge_before).delete()
    DeploymentRollup.objects.filter(start__lt=purge_before).delete()
    SloHour.objects.filter(hour__lt=purge_before).delete()
    return result


@transaction.atomic
def _fold_hour(hour: datetime) -> int:
    rows = list(
        MetricRollup.objects.select_for_update()
        .filter(resolution=MetricRollup.Resolution.MINUTE, start__gte=hour, start__lt=hour + timedelta(hours=1))
        .order_by("deployment_id", "component_key", "start")
    )
    groups: dict[tuple, list[MetricRollup]] = {}
    for row in rows:
        groups.setdefault((row.deployment_id, row.component_key), []).append(row)
    hourly = [_fold(hour, deployment_id, key, group) for (deployment_id, key), group in groups.items()]
    MetricRollup.objects.bulk_create(hourly, batch_size=500)
    MetricRollup.objects.filter(pk__in=[r.pk for r in rows]).delete()
    later = hour + timedelta(hours=1)
    DeploymentRollup.objects.filter(
        resolution=MetricRollup.Resolution.MINUTE, start__gte=hour, start__lt=later
    ).delete()
    deployment_rollups_refresh(start=hour, end=later, resolution=MetricRollup.Resolution.HOUR)
    return len(rows)


def _fold(hour: datetime, deployment_id, key: str, group: list[MetricRollup]) -> MetricRollup:
    folded = MetricRollup(
        deployment_id=deployment_id,
        component_key=key,
        is_llm=any(r.is_llm for r in group),
        resolution=MetricRollup.Resolution.HOUR,
        start=hour,
        cost=sum((r.cost for r in group), Decimal(0)),
    )
    for name in SUMMED:
        values = [getattr(r, name) for r in group if getattr(r, name) is not None]
        setattr(folded, name, sum(values) if values else None)
    for name in AVERAGED:  # a minute that did not report counts as idle
        setattr(folded, name, sum(getattr(r, name) for r in group) / 60)
    for name in ("ttft", "itl", "e2e"):
        merged, quantiles = merged_sketch(getattr(r, name) for r in group)
        setattr(folded, name, merged)
        for q, value in zip(STORED_QUANTILES, quantiles, strict=True):
            setattr(folded, quantile_column(name, q), value)
    return folded
