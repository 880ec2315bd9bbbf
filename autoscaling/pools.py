"""Pre-warmed pools: keep standby replicas running per cluster and GPU type, and hand one to a wake.

A standby is an ordinary job (a vLLM engine started with no model), so the job layer holds its GPUs and billing
meters its cost like any other; labels tie it to its pool. A wake that takes one cancels it (its GPUs go to the
component's new job, which then starts in seconds: `coldstart.cold_start(pooled=True)`) and submits a new standby.

How many (`WarmPool.sizing`, the rules in `autoscaling.pooling`):
- fixed: always `size`;
- per component at zero: `per_zero` x the components at zero on the cluster and GPU type (`pool_target`);
- by the wakes expected together: the fewest standbys that leave a wake at most a `miss` chance of finding none,
  for the components at zero waking at yesterday's rate in the same hour (their minute rollups, as the scheduled
  pre-warm reads them) over one refill (the cluster's standby start, `coldstart` figures) (`wakes_together_wanted`).
Both sized ways keep at least `min_size` while any component of the type is at zero, none otherwise, at most `size`.
The autoscaler's beat pass resizes them after its decisions (`pools_resize`), so a component going to zero grows
its pool within a tick and a pool with nothing at zero costs nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact
from django.utils import timezone

from autoscaling.coldstart import StartModel
from autoscaling.models import WarmPool
from autoscaling.pooling import forecast_hour, pool_target, wakes_together_wanted
from core.exceptions import ValidationError
from deployments.models import ComponentDeployment
from deployments.state import ComponentStatus
from jobs import services as job_services
from jobs.models import Job
from observability.models import MetricRollup
from tenancy.selectors import require_write

POOL_LABEL = "autoscaling.pool"
STANDBY_IMAGE = "vllm/vllm-openai"
MAX_POOL_SIZE = 16
MISS_RANGE = (Decimal("0.001"), Decimal("0.5"))
# A pool's settings as `pool_set` takes them, beside its cluster and project (the API's and the console form's fields).
POOL_SETTINGS = ("gpu_type", "size", "gpu_count", "sizing", "per_zero", "min_size", "miss")
Sizing = WarmPool.Sizing


def standby_jobs(pool: WarmPool):
    # The label's text value, not JSON containment: SQLite (the single-machine default) has no `contains` on JSON.
    return Job.objects.filter(Exact(KeyTextTransform(POOL_LABEL, "labels"), str(pool.pk)), status__in=Job.Status.ACTIVE)


def _submit_standby(pool: WarmPool, *, user=None) -> Job:
    return job_services.job_submit(
        user=user,
        cluster=pool.cluster,
        name=f"warm-pool-{pool.gpu_type.lower()}"[:50],
        job_type="SERVICE",
        tenant=pool.tenant,
        project=pool.project,
        resources={"cpu": 4, "memory_gib": 32, "gpu_count": pool.gpu_count, "gpu_type": pool.gpu_type, "replicas": 1},
        spec={"kind": "docker", "image": STANDBY_IMAGE, "tag": "latest", "args": ["--standby"]},
        labels={POOL_LABEL: str(pool.pk)},
    )


@transaction.atomic
def pool_set(
    *,
    user,
    cluster,
    project,
    gpu_type: str,
    size: int,
    gpu_count: int = 1,
    sizing: str | None = None,
    per_zero: Decimal | None = None,
    min_size: int = 1,
    miss: Decimal = Decimal("0.010"),
) -> WarmPool:
    """Create or resize the cluster's pool for a GPU type; standby jobs are started or stopped to match (see the
    module's docstring). Without `sizing`: per component at zero when `per_zero` is given, else fixed."""
    require_write(user, cluster.tenant_id)
    sizing = sizing or (Sizing.PER_ZERO if per_zero is not None else Sizing.FIXED)
    errors = _pool_errors(
        cluster=cluster, project=project, gpu_type=gpu_type, size=size, gpu_count=gpu_count, sizing=sizing,
        per_zero=per_zero, min_size=min_size, miss=miss,
    )  # fmt: skip
    if errors:
        raise ValidationError(errors)
    pool, _ = WarmPool.objects.select_for_update().update_or_create(
        cluster=cluster,
        gpu_type=gpu_type,
        defaults={
            "tenant_id": cluster.tenant_id,
            "project": project,
            "size": size,
            "gpu_count": gpu_count,
            "sizing": sizing,
            "per_zero": per_zero,
            "min_size": min_size,
            "miss": miss,
            "created_by": user,
        },
    )
    pool_fill(pool=pool, user=user)
    return pool


def pool_delete(*, user, pool: WarmPool) -> int:
    """Remove a pool: its standby jobs are cancelled (their GPUs freed, their metering stopped) and the row deleted,
    in one transaction holding the pool's lock, so a wake cannot take a standby of a pool half gone. Returns how
    many standbys were stopped."""
    require_write(user, pool.tenant_id)
    with transaction.atomic():
        locked = WarmPool.objects.select_for_update().get(pk=pool.pk)
        live = list(standby_jobs(locked))
        for job in live:
            job_services.job_cancel(job=job, user=user, reason="warm pool deleted")
        locked.delete()
    return len(live)


def _whole(value, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def _decimal(value) -> Decimal | None:
    try:
        return None if value is None or isinstance(value, bool | float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


def _pool_errors(*, cluster, project, gpu_type, size, gpu_count, sizing, per_zero, min_size, miss) -> dict:
    errors = {}
    if project.tenant_id != cluster.tenant_id:
        errors["project_id"] = ["A project of the cluster's tenant."]
    if gpu_type not in ((cluster.inventory or {}).get("gpus") or {}):
        errors["gpu_type"] = ["The cluster has no GPUs of this type."]
    if not _whole(size, 0, MAX_POOL_SIZE):
        errors["size"] = [f"A whole number from 0 to {MAX_POOL_SIZE}."]
    if not _whole(gpu_count, 1, 8):
        errors["gpu_count"] = ["A whole number from 1 to 8."]
    if sizing not in Sizing.values:
        errors["sizing"] = [f"One of {', '.join(Sizing.values)}."]
    ratio = _decimal(per_zero)
    if per_zero is not None and (ratio is None or not Decimal("0.01") <= ratio <= Decimal(1)):
        errors["per_zero"] = ["From 0.01 to 1 standby per component at zero."]
    elif sizing == Sizing.PER_ZERO and per_zero is None:
        errors["per_zero"] = ["Required when the pool is sized per component at zero."]
    if not _whole(min_size, 0, MAX_POOL_SIZE):
        errors["min_size"] = [f"A whole number from 0 to {MAX_POOL_SIZE}."]
    chance = _decimal(miss)
    if chance is None or not MISS_RANGE[0] <= chance <= MISS_RANGE[1]:
        errors["miss"] = [f"A chance from {MISS_RANGE[0]} to {MISS_RANGE[1]} that a wake finds no standby ready."]
    return errors


def resources_fit(pool: WarmPool, resources: dict) -> bool:
    gpus = resources.get("gpu_count") or 0
    return isinstance(gpus, int) and 0 < gpus <= pool.gpu_count


def pools_wanted(pools, *, now: datetime | None = None) -> dict:
    """{pool id: standbys wanted now} for a page of pools (their clusters selected with them), in at most three
    queries: the components at zero, yesterday's requests of those in the forecast hour, the standbys' last runs."""
    now = now or timezone.now()
    sized = [pool for pool in pools if pool.sizing != Sizing.FIXED]
    wanted = {pool.pk: pool.size for pool in pools}
    if not sized:
        return wanted
    rows = list(
        ComponentDeployment.objects.filter(
            deployment__cluster_id__in={pool.cluster_id for pool in sized},
            status=ComponentStatus.SCALED_TO_ZERO,
            retired_at__isnull=True,
            is_candidate=False,
        ).values_list("deployment__cluster_id", "deployment_id", "key", "resources")
    )
    members = {
        pool.pk: [
            (deployment_id, key)
            for cluster_id, deployment_id, key, resources in rows
            if cluster_id == pool.cluster_id
            and resources.get("gpu_type") == pool.gpu_type
            and resources_fit(pool, resources)
        ]
        for pool in sized
    }
    by_wakes = [pool for pool in sized if pool.sizing == Sizing.WAKES_TOGETHER and members[pool.pk]]
    requests = _forecast_requests({m for pool in by_wakes for m in members[pool.pk]}, now=now)
    cached = _images_cached(by_wakes, now=now)
    for pool in sized:
        if pool.sizing == Sizing.PER_ZERO:
            wanted[pool.pk] = pool_target(
                len(members[pool.pk]), ratio=float(pool.per_zero), floor=pool.min_size, ceiling=pool.size
            )
            continue
        wanted[pool.pk] = wakes_together_wanted(
            [requests.get(member, 0.0) for member in members[pool.pk]],
            model=StartModel.of((pool.cluster.inventory or {}).get("cold_start")),
            image_cached=cached.get(pool.pk, False),
            miss=float(pool.miss),
            floor=pool.min_size,
            ceiling=pool.size,
        )
    return wanted


def _forecast_requests(members: set[tuple], *, now: datetime) -> dict[tuple, float]:
    """{(deployment id, component key): requests in the forecast hour yesterday} from the minute rollups."""
    if not members:
        return {}
    start, end = (datetime.fromtimestamp(second, tz=UTC) for second in forecast_hour(now.timestamp()))
    rows = (
        MetricRollup.objects.filter(
            deployment_id__in={deployment_id for deployment_id, _ in members},
            component_key__in={key for _, key in members},
            resolution=MetricRollup.Resolution.MINUTE,
            start__gte=start,
            start__lt=end,
        )
        .values("deployment_id", "component_key")
        .annotate(total=Sum("requests"))
    )
    return {(row["deployment_id"], row["component_key"]): float(row["total"] or 0) for row in rows}


def _images_cached(pools, *, now: datetime) -> dict:
    """{pool id: True} for the pools one of whose standbys is up or stopped within its cluster's image cache time:
    a new standby then finds the image on the node (`coldstart`), so the refill is shorter."""
    if not pools:
        return {}
    models = {str(pool.pk): StartModel.of((pool.cluster.inventory or {}).get("cold_start")) for pool in pools}
    oldest = now - timedelta(seconds=max(model.image_cache_s for model in models.values()))
    jobs = Job.objects.filter(labels__has_key=POOL_LABEL).filter(
        Q(status__in=Job.Status.ACTIVE) | Q(completed_at__gte=oldest)
    )
    cached = defaultdict(bool)
    for labels, status, completed in jobs.values_list("labels", "status", "completed_at"):
        model = models.get(labels.get(POOL_LABEL))
        if model is None:
            continue
        recent = completed is not None and (now - completed).total_seconds() < model.image_cache_s
        if status in Job.Status.ACTIVE or recent:
            cached[next(pool.pk for pool in pools if str(pool.pk) == labels[POOL_LABEL])] = True
    return cached


def pool_wanted(pool: WarmPool) -> int:
    """Standbys the pool should hold now."""
    return pools_wanted([pool])[pool.pk]


def pool_fill(*, pool: WarmPool, user=None) -> int:
    """Start or stop standby jobs until the pool has what it wants (the caller's transaction, holding the pool's
    row lock); the newest go first, those still starting before those running. Returns the standbys wanted."""
    wanted = pool_wanted(pool)
    live = sorted(standby_jobs(pool), key=lambda job: (job.status == Job.Status.RUNNING, -job.created_at.timestamp()))
    for job in live[: max(0, len(live) - wanted)]:
        job_services.job_cancel(job=job, user=user, reason="warm pool made smaller")
    for _ in range(wanted - len(live)):
        _submit_standby(pool, user=user)
    return wanted


def pools_resize() -> int:
    """The autoscaler's pass over the pools not of a fixed size: each to what it wants now, each in its own
    transaction. Returns how many standbys were started or stopped."""
    changed = 0
    for pool_id in WarmPool.objects.exclude(sizing=Sizing.FIXED).values_list("pk", flat=True):
        with transaction.atomic():
            pool = WarmPool.objects.select_for_update().select_related("cluster", "project").get(pk=pool_id)
            before = standby_jobs(pool).count()
            changed += abs(pool_fill(pool=pool) - before)
    return changed


def pool_take(*, cluster, gpu_type: str, gpu_count: int) -> bool:
    """Take a running standby of this cluster and GPU type (with enough GPUs) for a wake: True if one was taken;
    the pool starts a new standby in its place. The caller's transaction."""
    pool = WarmPool.objects.select_for_update().filter(cluster=cluster, gpu_type=gpu_type).first()
    if pool is None or pool.gpu_count < gpu_count:
        return False
    standby = standby_jobs(pool).filter(status=Job.Status.RUNNING).order_by("started_at").first()
    if standby is None:
        return False
    job_services.job_cancel(job=standby, reason="taken by a wake")
    _submit_standby(pool)  # refilled at once; a pool sized by components at zero shrinks at the next pass
    return True


def pool_hourly_cost(pool: WarmPool) -> Decimal:
    """What the pool's standby replicas cost per hour now (their jobs' rates)."""
    return sum((job.hourly_rate or Decimal(0) for job in standby_jobs(pool)), Decimal(0))
