"""A pass's waiting lines, read from the database: every line's first jobs in one query, the rest on demand.

Jobs wait in one line per GPU type (and per ClusterQueue on a cluster with quotas), in priority/FIFO order. A pass
reads each line's head chunk with one window query (`ROW_NUMBER() OVER (PARTITION BY line ORDER BY admission
order)`, an ordered scan of the waiting index), whatever the number of lines; a line whose chunk runs out during the
pass reads its next chunk alone (keyset pagination, doubling), so a blocked line costs a handful of rows, not
thousands, and a pass costs the same number of queries with 2 or 100 lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from jobs.drivers.queues import line_key
from jobs.models import Job
from jobs.scheduling import PlanJob

# A pass admits a job or two per line on average: a first chunk of 4 covers most lines without a second read.
FIRST_CHUNK = 4
MAX_CHUNK = 512
ADMISSION_ORDER = ("-priority", "sequence", "id")


class DbLine:
    """One scheduling line read lazily from the database in priority/FIFO order (keyset pagination)."""

    def __init__(self, queryset: Callable[[], QuerySet], to_plan: Callable[[Job], PlanJob], rows: dict, first: list):
        self._queryset = queryset  # built only when the first chunk runs out (most lines never need it)
        self._to_plan = to_plan
        self._rows = rows
        self._buffer: deque[PlanJob] = deque()
        self._last: Job | None = None
        self._chunk = FIRST_CHUNK
        self._take(first)
        self._exhausted = len(first) < FIRST_CHUNK
        self._chunk = min(FIRST_CHUNK * 2, MAX_CHUNK)

    def _take(self, chunk: list[Job]) -> None:
        for job in chunk:
            self._rows[job.pk] = job
            self._buffer.append(self._to_plan(job))
        if chunk:
            self._last = chunk[-1]

    def _fill(self) -> None:
        queryset = self._queryset().order_by(*ADMISSION_ORDER)
        if self._last is not None:
            p, n, i = self._last.priority, self._last.sequence, self._last.pk
            queryset = queryset.filter(
                Q(priority__lt=p) | Q(priority=p, sequence__gt=n) | Q(priority=p, sequence=n, id__gt=i)
            )
        chunk = list(queryset[: self._chunk])
        self._exhausted = len(chunk) < self._chunk
        self._chunk = min(self._chunk * 2, MAX_CHUNK)
        self._take(chunk)

    def peek(self) -> PlanJob | None:
        if not self._buffer and not self._exhausted:
            self._fill()
        return self._buffer[0] if self._buffer else None

    def pop(self) -> PlanJob:
        return self._buffer.popleft()


def waiting_lines(
    waiting: QuerySet,
    *,
    read: Callable[[QuerySet], QuerySet],
    to_plan: Callable[[Job], PlanJob],
    rows: dict,
    by_cluster_queue: bool,
) -> dict[str, DbLine]:
    """The pass's lines of waiting jobs (`waiting`: one cluster's), keyed as the planner and forecasts key them,
    each holding its first chunk: one query for all of them. `read` selects the columns a pass reads of a job."""
    partition = [F("cluster_queue_id"), F("queue_key")] if by_cluster_queue else [F("queue_key")]
    rank = Window(RowNumber(), partition_by=partition, order_by=[F("priority").desc(), F("sequence"), F("id")])
    heads = (
        read(waiting)
        .annotate(line_rank=rank)
        .filter(line_rank__lte=FIRST_CHUNK)
        .order_by("queue_key", "cluster_queue_id", *ADMISSION_ORDER)
    )
    chunks: dict[tuple, list[Job]] = {}
    for job in heads:
        cluster_queue = job.cluster_queue_id if by_cluster_queue else None
        chunks.setdefault((job.queue_key, cluster_queue), []).append(job)

    def line(queue_key: str, cluster_queue) -> Callable[[], QuerySet]:
        if by_cluster_queue:
            return lambda: read(waiting.filter(queue_key=queue_key, cluster_queue=cluster_queue))
        return lambda: read(waiting.filter(queue_key=queue_key))

    return {
        line_key(queue_key, cq): DbLine(line(queue_key, cq), to_plan, rows, first)
        for (queue_key, cq), first in chunks.items()
    }
