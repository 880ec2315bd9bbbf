"""What a pass or a forecast reads and writes of a cluster's quotas: the ClusterQueues as `jobs.quotas` specs (one
query), the fair-share history carried from pass to pass, and the status message of a job that waits for quota."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.conf import settings

from jobs.drivers.writes import rows_update
from jobs.models import ClusterQueue, Job
from jobs.quotas import GPU_PREFIX, QueueSpec, QuotaBook, gpu_key, vector_from_quota


def queue_spec(queue: ClusterQueue) -> QueueSpec:
    return QueueSpec(
        id=queue.pk,
        name=queue.name,
        nominal=vector_from_quota(queue.nominal_quota),
        cohort=queue.cohort or None,
        borrowing_limit=vector_from_quota(queue.borrowing_limit),
        lending_limit=vector_from_quota(queue.lending_limit),
        weight=float(queue.weight),
        reclaim_within_cohort=queue.reclaim_within_cohort,
        within_cluster_queue=queue.within_cluster_queue,
        fair_sharing_preemption=queue.fair_sharing_preemption,
    )


def cluster_quota_book(cluster) -> tuple[QuotaBook | None, dict, datetime | None]:
    """The cluster's quotas (None when it has no ClusterQueue: today's behaviour), its queues by id, and when their
    fair-share history was last advanced."""
    if getattr(cluster, "has_queues", True) is False:  # known from the pass's lock (jobs.services.passes)
        return None, {}, None
    queues = {queue.pk: queue for queue in ClusterQueue.objects.filter(cluster=cluster)}
    if not queues:
        return None, {}, None
    stamps = [queue.fair_share_at for queue in queues.values() if queue.fair_share_at is not None]
    book = QuotaBook(
        [queue_spec(queue) for queue in queues.values()],
        history={pk: queue.fair_share_history for pk, queue in queues.items() if queue.fair_share_at is not None},
        half_life=float(settings.JOBS_FAIR_SHARE_HALF_LIFE_SECONDS),
    )
    return book, queues, (max(stamps) if stamps else None)


def save_fair_share(book: QuotaBook, queues: dict, now: datetime) -> None:
    """Keep each queue's fair-share history for the next pass (one statement for all)."""
    changed = {}
    for pk, queue in queues.items():
        history = book.history.get(pk, book.dominant(pk))
        if queue.fair_share_at != now or queue.fair_share_history != history:
            queue.fair_share_history, queue.fair_share_at = history, now
            changed[pk] = {"fair_share_history": history, "fair_share_at": now}
    rows_update(ClusterQueue, changed)


def line_key(queue_key: str, cluster_queue_id) -> str:
    return f"{queue_key}|{cluster_queue_id}" if cluster_queue_id else queue_key


def publish_waits(waits: dict, rows: dict) -> int:
    """Say in each waiting head's status message why it waits for quota (only where it changed)."""
    changed = {}
    for job_id, blocked in waits.items():
        job = rows.get(job_id)
        if job is None:
            continue
        message = blocked.describe() + "."
        if job.status_message.startswith("Preempted"):  # why it is back in line stays in sight
            message = f"{job.status_message.split('. ', 1)[0]}. {message}"
        if job.status_message != message:
            job.status_message = message
            changed[job.pk] = {"status_message": message}
    return rows_update(Job, changed)


def publish_closed_waits(book: QuotaBook, closed: set, queued: list[tuple]) -> int:
    """Jobs just submitted into a closed line (a pass did not read it: `QuotaBook.closed`) say that they wait for
    their queue's quota, as a head read by the pass would (`queued`: id, ClusterQueue id, queue key, GPUs asked)."""
    if not closed:
        return 0
    to_queue_id = Job._meta.get_field("cluster_queue").target_field.to_python  # raw values on SQLite
    changed = {}
    for pk, raw_queue_id, queue_key, gpus in queued:
        key = gpu_key(queue_key)
        queue_id = to_queue_id(raw_queue_id) if raw_queue_id is not None else None
        if (queue_id, key) in closed:
            blocked = book.check(queue_id, {key: max(1, gpus)})
            if blocked is not None:
                changed[pk] = {"status_message": book.explain(queue_id, blocked).describe() + "."}
    return rows_update(Job, changed)


NEEDS_MARK = "\x00needs\x00"


def closed_wait_templates(book: QuotaBook, closed: set) -> list[tuple]:
    """The wait message of a job in each closed line, around the number of GPUs it asks: (ClusterQueue id, queue
    key, text before, text after). The statement that moves just-submitted jobs to QUEUED writes each one's message
    as before || max(1, its GPUs) || after, the message `publish_closed_waits` gives it, without reading the jobs."""
    templates = []
    for queue_id, key in sorted(closed, key=str):
        blocked = book.check(queue_id, {key: 1})  # a closed line's queue may take none of it: any count waits
        if blocked is None:
            continue
        before, after = (book.explain(queue_id, replace(blocked, needs=NEEDS_MARK)).describe() + ".").split(NEEDS_MARK)
        templates.append((queue_id, key.removeprefix(GPU_PREFIX), before, after))
    return templates
