"""A pass's waiting lines, read from the database: the first jobs of the lines that may admit, the rest on demand.

Jobs wait in one line per GPU type (and per ClusterQueue on a cluster with quotas), in priority/FIFO order. A pass
reads its lines' head chunks with one window query (`ROW_NUMBER() OVER (PARTITION BY line ORDER BY admission
order)`, an ordered scan of the waiting index), whatever the number of lines; a line whose chunk runs out during the
pass reads its next chunk alone (keyset pagination, doubling), so a blocked line costs a handful of rows, not
thousands, and a pass costs the same number of queries with 2 or 100 lines.

On a cluster with quotas the lines are `WaitingLines`: every line a job may wait in (each ClusterQueue, and no
queue, by each GPU type the cluster or a quota names, and the CPU line) is known before anything is read, and the
planner asks for the heads of only the lines that may admit now (`load`): a line whose queue uses all it may of its
GPU type is closed (`jobs.quotas.QuotaBook.closed`) and its jobs are not read at all. The window query then scans
only the open lines' rows (one index range each), so a pass's reads follow what changed (the queues that released
quota since the last pass), not the 10,000 jobs that wait.
"""

from __future__ import annotations

import functools
import itertools
import operator
import uuid
from collections import deque
from collections.abc import Callable, Iterable

from django.db import connection
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from jobs.capacity import CPU_QUEUE
from jobs.drivers.queues import line_key
from jobs.models import Job
from jobs.quotas import GPU_PREFIX, QuotaBook, gpu_key
from jobs.scheduling import PlanJob

# A pass admits a job or two per line on average: a first chunk of 4 covers most lines without a second read.
FIRST_CHUNK = 4
MAX_CHUNK = 512
ADMISSION_ORDER = ("-priority", "sequence", "id")


class DbLine:
    """One scheduling line read lazily from the database in priority/FIFO order (keyset pagination).

    `first`: its first chunk, read with the other lines' (None: not read yet; the first `peek` reads it alone).
    `quota_line`: (ClusterQueue id, quota resource) when the line's jobs count against a queue's quota of one GPU
    type, so the planner can tell it is closed without reading it."""

    def __init__(
        self,
        queryset: Callable[[], QuerySet],
        to_plan: Callable[[Job], PlanJob],
        rows: dict,
        first: list | None,
        quota_line: tuple | None = None,
        line: tuple | None = None,
        row: Callable | None = None,
    ):
        self._queryset = queryset  # built only when the first chunk runs out (most lines never need it)
        self._row = row  # what the read yields (values) -> a row object; None: model instances
        self._to_plan = to_plan
        self._rows = rows
        self._buffer: deque[PlanJob] = deque()
        self._last: Job | None = None
        self.quota_line = quota_line
        self.line = line  # (ClusterQueue id, queue key)
        self.loaded = False
        self._exhausted = False
        self._chunk = FIRST_CHUNK
        if first is not None:
            self.fill_with(first)

    def fill_with(self, first: list) -> None:
        """Its first chunk (at most FIRST_CHUNK jobs), read with other lines'."""
        self._take(first)
        self.loaded = True
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
        chunk = _rows(queryset[: self._chunk], self._row)
        self.loaded = True
        self._exhausted = len(chunk) < self._chunk
        self._chunk = min(self._chunk * 2, MAX_CHUNK)
        self._take(chunk)

    def peek(self) -> PlanJob | None:
        if not self._buffer and not self._exhausted:
            self._fill()
        return self._buffer[0] if self._buffer else None

    def pop(self) -> PlanJob:
        return self._buffer.popleft()


def _rows(queryset, row: Callable | None) -> list:
    """The read's rows: model instances as they come, or values made into row objects by `row`."""
    return list(queryset) if row is None else [row(values) for values in queryset]


def _head_chunks(queryset: QuerySet, partition: list, row: Callable | None = None) -> dict[tuple, list[Job]]:
    """The first FIRST_CHUNK jobs of every line in `queryset`, by (queue key, ClusterQueue id): one window query."""
    rank = Window(RowNumber(), partition_by=partition, order_by=[F("priority").desc(), F("sequence"), F("id")])
    heads = (
        queryset.annotate(line_rank=rank)
        .filter(line_rank__lte=FIRST_CHUNK)
        .order_by("queue_key", "cluster_queue_id", *ADMISSION_ORDER)
    )
    chunks: dict[tuple, list[Job]] = {}
    for job in _rows(heads, row):
        chunks.setdefault((job.queue_key, job.cluster_queue_id), []).append(job)
    return chunks


class WaitingLines(dict):
    """The lines of a cluster with quotas, keyed as the planner keys them, none read yet: `load` reads the first
    chunks of the lines the planner names in one query; a line never named is read only if the planner peeks it."""

    def __init__(
        self,
        waiting: QuerySet,
        read: Callable[[QuerySet], QuerySet],
        make_line: Callable[[str, object], DbLine],
        queue_ids: Iterable,
        known: Iterable[str],
        row: Callable | None = None,
    ):
        self._known = sorted(known)  # the GPU types (and "cpu") the lines cover
        super().__init__(
            {
                line_key(queue_key, queue_id): make_line(queue_key, queue_id)
                for queue_id in [None, *queue_ids]
                for queue_key in self._known
            }
        )
        self._waiting = waiting
        self._read = read
        self._make_line = make_line
        self._row = row
        self._strays_read = False

    def load(self, keys: Iterable[str]) -> None:
        """Read the first chunk of each of these lines not read yet, in one query. The first load also looks for
        jobs that wait in a line no quota or inventory names (a GPU type the inventory no longer has): their lines
        are added (read when peeked), so the planner fails them as it did before."""
        wanted = [key for key in keys if not self[key].loaded]
        strays = not self._strays_read
        if not wanted and not strays:
            return
        self._strays_read = True
        # Index ranges around the known keys (not a NOT IN, which would scan every waiting job).
        ranges = [Q(queue_key__lt=self._known[0]), Q(queue_key__gt=self._known[-1])] if strays else []
        ranges += [Q(queue_key__gt=low, queue_key__lt=high) for low, high in itertools.pairwise(self._known)] * strays
        if connection.vendor == "postgresql":
            chunks = self._probe([self[key].line for key in wanted], ranges)
        else:  # the portable form (SQLite): a window query over the wanted lines' rows
            conditions = [Q(cluster_queue_id=self[key].line[0], queue_key=self[key].line[1]) for key in wanted]
            condition = functools.reduce(operator.or_, conditions + ranges)
            chunks = _head_chunks(
                self._read(self._waiting.filter(condition)), [F("cluster_queue_id"), F("queue_key")], self._row
            )
        for key in wanted:
            queue_id, queue_key = self[key].line
            self[key].fill_with(chunks.pop((queue_key, queue_id), []))
        for queue_key, queue_id in chunks:  # strays: read in full when the planner peeks them
            self.setdefault(line_key(queue_key, queue_id), self._make_line(queue_key, queue_id))

    def _probe(self, lines: list[tuple], strays: list[Q]) -> dict[tuple, list[Job]]:
        """PostgreSQL: the first chunk of each line by an index probe (`LATERAL … LIMIT 4` over the lines), one
        statement that touches about 4 rows a line, whatever waits behind. It returns the read's columns when the
        lines read values (`row`), else the ids, whose rows are then read by primary key. The probe orders by the
        line's own columns first, so it can only be served by the line index (`job_queue_waiting_order_idx`),
        statistics or not; so do the probes of the lines of jobs in no queue (`cluster_queue_id IS NULL` first:
        ordered by the GPU type alone, PostgreSQL took the other index and filtered a whole GPU type's jobs)."""
        line_sentinel, key_sentinel = uuid.UUID(int=0), "\x00line key"
        statements, params = [], []
        queued = [(queue_id, queue_key) for queue_id, queue_key in lines if queue_id is not None]

        def columns(queryset: QuerySet) -> QuerySet:
            return self._read(queryset) if self._row is not None else queryset.values_list("id")

        # Lines of jobs in no queue: one probe each (a NULL never equals the outer column).
        ranges = [
            Q(cluster_queue__isnull=True, queue_key=queue_key) for queue_id, queue_key in lines if queue_id is None
        ]
        if queued:
            inner = columns(
                self._waiting.filter(cluster_queue_id=line_sentinel, queue_key=key_sentinel).order_by(
                    "cluster_queue_id", "queue_key", *ADMISSION_ORDER
                )
            )[:FIRST_CHUNK]
            sql, inner_params = _probe_sql(inner, {line_sentinel: "l.cq", key_sentinel: "l.qk"})
            statements.append(
                f"SELECT p.* FROM unnest(%s::uuid[], %s::text[]) AS l(cq, qk) CROSS JOIN LATERAL ({sql}) p"
            )
            params += [[queue_id for queue_id, _ in queued], [queue_key for _, queue_key in queued], *inner_params]
        probes = [(stray, ("cluster_queue_id", "queue_key")) for stray in ranges]
        probes += [(stray, ("queue_key",)) for stray in strays]
        for stray, order in probes:  # one index range each (an OR of them could be a scan of every waiting job)
            queryset = columns(self._waiting.filter(stray).order_by(*order, *ADMISSION_ORDER))[:FIRST_CHUNK]
            sql, stray_params = queryset.query.sql_with_params()
            statements.append(f"SELECT * FROM ({sql}) s")
            params += stray_params
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(statements), params)
            fetched = cursor.fetchall()
        if self._row is not None:
            found = [self._row(values) for values in fetched]
        else:  # by primary key (through the waiting queryset PostgreSQL walked a line index filtering every row)
            found = list(self._read(Job.objects.filter(pk__in=[values[0] for values in fetched]).order_by()))
        found.sort(key=lambda job: (-job.priority, job.sequence, job.pk))
        chunks: dict[tuple, list[Job]] = {}
        for job in found:
            chunks.setdefault((job.queue_key, job.cluster_queue_id), []).append(job)
        return chunks


def _probe_sql(queryset: QuerySet, substitutions: dict) -> tuple[str, list]:
    """A queryset's SQL with the parameters that equal a key of `substitutions` replaced by that SQL text (a
    column of the outer query: Django has no LATERAL join)."""
    sql, params = queryset.query.sql_with_params()
    parts = sql.split("%s")
    assert len(parts) == len(params) + 1, "unexpected placeholders"
    text, kept = [parts[0]], []
    for param, part in zip(params, parts[1:], strict=True):
        if param in substitutions:
            text.append(substitutions[param])
        else:
            text.append("%s")
            kept.append(param)
        text.append(part)
    return "".join(text), kept


def waiting_lines(
    waiting: QuerySet,
    *,
    read: Callable[[QuerySet], QuerySet],
    to_plan: Callable[[Job], PlanJob],
    rows: dict,
    by_cluster_queue: bool,
    queue_ids: Iterable = (),
    gpu_types: Iterable[str] = (),
    row: Callable | None = None,
) -> dict[str, DbLine]:
    """The pass's lines of waiting jobs (`waiting`: one cluster's), keyed as the planner and forecasts key them.
    `read` selects the columns a pass reads of a job; with `row`, it selects values (`values_list`) and `row` makes
    each into the object the lines keep in `rows` (the simulated driver's `PlanRow`).

    Without quotas (`by_cluster_queue` False): every line with its first chunk, one query. With quotas: a
    `WaitingLines` of every line of the ClusterQueues `queue_ids` (and of no queue) by the `gpu_types` and the CPU
    line, none read until the planner asks for the ones that may admit."""
    if not by_cluster_queue:
        chunks = _head_chunks(read(waiting), [F("queue_key")], row)
        return {
            queue_key: DbLine(
                lambda queue_key=queue_key: read(waiting.filter(queue_key=queue_key)), to_plan, rows, first, row=row
            )
            for (queue_key, _), first in chunks.items()
        }

    def line(queue_key: str, queue_id) -> DbLine:
        return DbLine(
            lambda: read(waiting.filter(queue_key=queue_key, cluster_queue=queue_id)),
            to_plan,
            rows,
            None,
            quota_line=(queue_id, gpu_key(queue_key)) if queue_id is not None and queue_key != CPU_QUEUE else None,
            line=(queue_id, queue_key),
            row=row,
        )

    return WaitingLines(waiting, read, line, queue_ids, {CPU_QUEUE, *gpu_types}, row=row)


def line_gpu_types(cluster, book: QuotaBook | None) -> set[str]:
    """The GPU types a cluster's lines are known by: its inventory's and any its quotas name."""
    types = set((cluster.inventory or {}).get("gpus") or {})
    for queue in book.queues.values() if book is not None else ():
        types.update(key.removeprefix(GPU_PREFIX) for key in queue.nominal if key.startswith(GPU_PREFIX))
    return types
