"""Reads of quotas: ClusterQueues and LocalQueues scoped to the caller's tenants, each queue's usage against its
quota now (used, borrowed, what it may still take), GPU-hours over a window, and its waiting line."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from jobs.drivers import get_driver
from jobs.drivers.queues import queue_spec
from jobs.models import ClusterQueue, Job, LocalQueue
from jobs.quotas import CPU, MEMORY, QuotaBook, demand_vector
from tenancy.selectors import scope_to_user

HOLDING = (Job.Status.PENDING, Job.Status.RUNNING)
WAITING = (Job.Status.PENDING, Job.Status.QUEUED)


def cluster_queue_list(*, user) -> QuerySet[ClusterQueue]:
    return scope_to_user(ClusterQueue.objects.select_related("cluster", "tenant"), user)


def local_queue_list(*, user) -> QuerySet[LocalQueue]:
    return scope_to_user(LocalQueue.objects.select_related("cluster_queue", "project", "tenant"), user)


def _resources(queue: ClusterQueue) -> list[tuple[str, str]]:
    """(quota key, label) of what the queue names, GPUs first."""
    spec = queue_spec(queue)
    keys = sorted(k for k in spec.nominal if k.startswith("gpu:"))
    keys += [k for k in (CPU, MEMORY) if k in spec.nominal]
    return [(key, key[4:] if key.startswith("gpu:") else key) for key in keys]


def _scale(key: str, value: int) -> float:
    if key == CPU:
        return value / 1000
    if key == MEMORY:
        return value / 1024
    return value


def cluster_queue_usage(queues: list[ClusterQueue]) -> dict:
    """Per queue id: {"resources": [{resource, nominal, used, borrowed, available, lendable}], "admitted", "waiting"}.

    Three queries whatever the number of queues: the queues of their clusters (a cohort lends across them), what
    admitted jobs hold per queue and GPU type, and how many wait."""
    if not queues:
        return {}
    cluster_ids = {queue.cluster_id for queue in queues}
    everyone = list(ClusterQueue.objects.filter(cluster_id__in=cluster_ids))
    ids = [queue.pk for queue in everyone]
    held = (
        Job.objects.filter(cluster_queue_id__in=ids, status__in=HOLDING, admitted_at__isnull=False)
        .values("cluster_queue_id", "queue_key")
        .annotate(
            gpus=Sum("demand_gpus"),
            millicores=Sum("demand_millicores"),
            memory_mib=Sum("demand_memory_mib"),
            n=Count("id"),
        )
        .order_by()
    )
    waiting = dict(
        Job.objects.filter(cluster_queue_id__in=ids, status__in=WAITING, admitted_at__isnull=True)
        .values("cluster_queue_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("cluster_queue_id", "n")
    )
    books: dict = {}
    for cluster_id in cluster_ids:
        books[cluster_id] = QuotaBook([queue_spec(q) for q in everyone if q.cluster_id == cluster_id], half_life=0)
    by_id = {queue.pk: queue for queue in everyone}
    admitted: dict = defaultdict(int)
    for row in held:
        queue = by_id[row["cluster_queue_id"]]
        book = books[queue.cluster_id]
        gpu_type = row["queue_key"] if row["gpus"] else None
        vector = demand_vector(gpu_type, row["gpus"] or 0, row["millicores"] or 0, row["memory_mib"] or 0)
        book.add_usage(queue.pk, vector)
        admitted[queue.pk] += row["n"]
    out = {}
    for queue in queues:
        book = books[queue.cluster_id]
        spec = book.queues[queue.pk]
        resources = []
        for key, label in _resources(queue):
            resources.append(
                {
                    "resource": label,
                    "nominal": _scale(key, spec.nominal.get(key, 0)),
                    "used": _scale(key, book.used(queue.pk, key)),
                    "borrowed": _scale(key, book.borrowed(queue.pk, key)),
                    "available": _scale(key, book.available(queue.pk, key) or 0),
                    "lendable": _scale(key, spec.lendable(key)) if spec.cohort else 0,
                }
            )
        out[queue.pk] = {
            "resources": resources,
            "admitted": admitted.get(queue.pk, 0),
            "waiting": waiting.get(queue.pk, 0),
            "share": round(book.dominant(queue.pk) / spec.weight, 4) if spec.cohort else 0.0,
        }
    return out


def cluster_queue_gpu_hours(*, queue: ClusterQueue, start: datetime, end: datetime, step_hours: int = 1) -> dict:
    """GPU-hours the queue's jobs ran within [start, end), per GPU type in total and per step (one query; a job
    preempted and run again counts from its latest start)."""
    now = timezone.now()
    end = min(end, now)
    rows = (
        Job.objects.filter(cluster_queue=queue, started_at__isnull=False, started_at__lt=end, demand_gpus__gt=0)
        .filter(Q(completed_at__isnull=True) | Q(completed_at__gte=start))
        .values_list("queue_key", "demand_gpus", "started_at", "completed_at")
    )
    step = timedelta(hours=step_hours)
    steps = max(1, -(-int((end - start).total_seconds()) // int(step.total_seconds()))) if end > start else 0
    totals: dict[str, float] = defaultdict(float)
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * steps)
    for gpu_type, gpus, began, finished in rows:
        lo, hi = max(began, start), min(finished or end, end)
        while lo < hi:
            index = int((lo - start) / step)
            edge = min(hi, start + step * (index + 1))
            hours = gpus * (edge - lo).total_seconds() / 3600
            series[gpu_type][index] += hours
            totals[gpu_type] += hours
            lo = edge
    return {
        "start": start,
        "end": end,
        "step_hours": step_hours,
        "gpu_types": [
            {"gpu_type": t, "gpu_hours": round(totals[t], 4), "series": [round(v, 4) for v in series[t]]}
            for t in sorted(totals)
        ],
    }


def cluster_queue_waiting(*, queue: ClusterQueue, limit: int = 200) -> list[dict]:
    """The queue's waiting line in admission order, with each job's position, predicted start and reason."""
    jobs = list(
        Job.objects.filter(cluster_queue=queue, status__in=WAITING, admitted_at__isnull=True)
        .only("id", "name", "priority", "sequence", "resources", "queue_key", "status", "status_message", "queued_at")
        .order_by("-priority", "sequence", "id")[:limit]
    )
    if not jobs:
        return []
    forecast = get_driver(queue.cluster).forecast(cluster=queue.cluster, now=timezone.now(), summarise_quiet=True)
    rows = []
    for position, job in enumerate(jobs, start=1):
        item = forecast.jobs.get(job.pk)
        rows.append(
            {
                "position": position,
                "job": job,
                "predicted_start": item.predicted_start if item else None,
                "reason": (item.reason if item else "") or job.status_message,
            }
        )
    return rows
