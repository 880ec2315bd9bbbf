"""Pre-warmed pools: keep standby replicas running per cluster and GPU type, and hand one to a wake.

A standby is an ordinary job (a vLLM engine started with no model), so the job layer holds its GPUs and billing
meters its cost like any other; labels tie it to its pool. A wake that takes one cancels it (its GPUs go to the
component's new job, which then starts in seconds: `coldstart.cold_start(pooled=True)`) and submits a new standby.

How many: a fixed `size`, or (with `per_zero`) as many as the components sitting at zero on the cluster and GPU
type call for (`pooling.pool_target`: per_zero x at zero, at least `min_size` while any is at zero, none otherwise,
at most `size`). The autoscaler's beat pass resizes such pools after its decisions (`pools_resize`), so a component
going to zero grows its pool within a tick and a pool with nothing at zero costs nothing.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from autoscaling.models import WarmPool
from autoscaling.pooling import pool_target
from core.exceptions import ValidationError
from deployments.models import ComponentDeployment
from deployments.state import ComponentStatus
from jobs import services as job_services
from jobs.models import Job
from tenancy.selectors import require_write

POOL_LABEL = "autoscaling.pool"
STANDBY_IMAGE = "vllm/vllm-openai"
MAX_POOL_SIZE = 16


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
    per_zero: Decimal | None = None,
    min_size: int = 1,
) -> WarmPool:
    """Create or resize the cluster's pool for a GPU type; standby jobs are started or stopped to match (`size`, or
    with `per_zero` the components at zero: see the module's docstring)."""
    require_write(user, cluster.tenant_id)
    errors = {}
    if project.tenant_id != cluster.tenant_id:
        errors["project_id"] = ["A project of the cluster's tenant."]
    if gpu_type not in ((cluster.inventory or {}).get("gpus") or {}):
        errors["gpu_type"] = ["The cluster has no GPUs of this type."]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_POOL_SIZE:
        errors["size"] = [f"A whole number from 0 to {MAX_POOL_SIZE}."]
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int) or not 1 <= gpu_count <= 8:
        errors["gpu_count"] = ["A whole number from 1 to 8."]
    if per_zero is not None and not Decimal("0.01") <= Decimal(per_zero) <= Decimal(1):
        errors["per_zero"] = ["From 0.01 to 1 standby per component at zero, or empty for a fixed size."]
    if isinstance(min_size, bool) or not isinstance(min_size, int) or not 0 <= min_size <= MAX_POOL_SIZE:
        errors["min_size"] = [f"A whole number from 0 to {MAX_POOL_SIZE}."]
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
            "per_zero": per_zero,
            "min_size": min_size,
            "created_by": user,
        },
    )
    pool_fill(pool=pool, user=user)
    return pool


def at_zero_count(pool: WarmPool) -> int:
    """Components at zero on the pool's cluster and GPU type that a standby of the pool can hold."""
    rows = ComponentDeployment.objects.filter(
        Exact(KeyTextTransform("gpu_type", "resources"), pool.gpu_type),
        deployment__cluster_id=pool.cluster_id,
        status=ComponentStatus.SCALED_TO_ZERO,
        retired_at__isnull=True,
        is_candidate=False,
    )
    return sum(1 for resources in rows.values_list("resources", flat=True) if resources_fit(pool, resources))


def resources_fit(pool: WarmPool, resources: dict) -> bool:
    gpus = resources.get("gpu_count") or 0
    return isinstance(gpus, int) and 0 < gpus <= pool.gpu_count


def pools_wanted(pools) -> dict:
    """{pool id: standbys wanted now} for a page of pools, in at most one query (the components at zero)."""
    sized = [pool for pool in pools if pool.per_zero is not None]
    rows = []
    if sized:
        rows = ComponentDeployment.objects.filter(
            deployment__cluster_id__in={pool.cluster_id for pool in sized},
            status=ComponentStatus.SCALED_TO_ZERO,
            retired_at__isnull=True,
            is_candidate=False,
        ).values_list("deployment__cluster_id", "resources")
        rows = list(rows)
    wanted = {pool.pk: pool.size for pool in pools}
    for pool in sized:
        count = sum(
            1
            for cluster_id, resources in rows
            if cluster_id == pool.cluster_id
            and resources.get("gpu_type") == pool.gpu_type
            and resources_fit(pool, resources)
        )
        wanted[pool.pk] = pool_target(count, ratio=float(pool.per_zero), floor=pool.min_size, ceiling=pool.size)
    return wanted


def pool_wanted(pool: WarmPool) -> int:
    """Standbys the pool should hold now."""
    if pool.per_zero is None:
        return pool.size
    return pool_target(at_zero_count(pool), ratio=float(pool.per_zero), floor=pool.min_size, ceiling=pool.size)


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
    """The autoscaler's pass over the pools sized by components at zero: each to what it wants now, each in its
    own transaction. Returns how many standbys were started or stopped."""
    changed = 0
    for pool_id in WarmPool.objects.filter(per_zero__isnull=False).values_list("pk", flat=True):
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
