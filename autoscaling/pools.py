"""Pre-warmed pools: keep N standby replicas running per cluster and GPU type, and hand one to a wake.

A standby is an ordinary job (a vLLM engine started with no model), so the job layer holds its GPUs and billing
meters its cost like any other; labels tie it to its pool. A wake that takes one cancels it (its GPUs go to the
component's new job, which then starts in seconds: `coldstart.cold_start(pooled=True)`) and submits a new standby.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from autoscaling.models import WarmPool
from core.exceptions import ValidationError
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
def pool_set(*, user, cluster, project, gpu_type: str, size: int, gpu_count: int = 1) -> WarmPool:
    """Create or resize the cluster's pool for a GPU type; standby jobs are started or stopped to match `size`."""
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
            "created_by": user,
        },
    )
    pool_fill(pool=pool, user=user)
    return pool


def pool_fill(*, pool: WarmPool, user=None) -> None:
    """Start or stop standby jobs until the pool has `size` of them (the caller's transaction)."""
    live = list(standby_jobs(pool).order_by("-created_at"))
    for job in live[pool.size :]:
        job_services.job_cancel(job=job, user=user, reason="warm pool made smaller")
    for _ in range(pool.size - len(live)):
        _submit_standby(pool, user=user)


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
    _submit_standby(pool)
    return True


def pool_hourly_cost(pool: WarmPool) -> Decimal:
    """What the pool's standby replicas cost per hour now (their jobs' rates)."""
    return sum((job.hourly_rate or Decimal(0) for job in standby_jobs(pool)), Decimal(0))
