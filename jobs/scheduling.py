"""Pure scheduling logic (no Django): capacity arithmetic, the admission order, and an event-driven planner.

The same planner drives a scheduling pass (advance to `now`, admitting only at `now`) and the schedule's
predictions (keep going into the future, admitting whenever a job is expected to release capacity), so a
predicted start is exactly what the passes will do if nothing else changes.

Capacity is counted in integers (GPUs, millicores, MiB; `jobs.capacity`) so adding and freeing never drifts.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from jobs.capacity import CPU_QUEUE, PRIORITY_NAMES, SERVICE, Capacity, Demand, per_replica
from jobs.quotas import GPU_PREFIX, Blocked, Holder, QuotaBook

# Re-exported: callers import the capacity types from here, with the planner.
__all__ = ["CPU_QUEUE", "PRIORITY_NAMES", "SERVICE", "Capacity", "Demand", "per_replica"]


# --- the planner ---------------------------------------------------------------------------------------------


@dataclass
class PlanJob:
    """A job as the planner sees it; `admitted_at`/`started_at` are set for jobs that already hold capacity."""

    id: Any
    demand: Demand
    order: tuple  # smaller runs first: (-priority, sequence, str(id))
    job_type: str
    startup: float
    duration: float | None
    fails: str | None = None
    admitted_at: datetime | None = None
    started_at: datetime | None = None
    hypothetical: bool = False
    queue: Any = None  # the ClusterQueue whose quota it counts against (None: no quota)
    preempted: bool = False  # stopped during this plan: its pending events are void

    def holder(self) -> Holder:
        return Holder(
            id=self.id, queue=self.queue, vector=self.demand.vector, priority=-self.order[0], sequence=self.order[1]
        )


@dataclass(frozen=True)
class Event:
    time: datetime
    kind: str  # "admit" | "start" | "succeed" | "fail" | "never_fits" | "preempt"
    job: PlanJob
    message: str = ""
    by: PlanJob | None = None  # "preempt": the job whose admission preempted this one


class QueueSource(Protocol):
    def peek(self) -> PlanJob | None: ...
    def pop(self) -> PlanJob: ...


class ListQueue:
    """An in-memory queue, ordered by PlanJob.order."""

    def __init__(self, jobs: Iterable[PlanJob] = ()):
        self._jobs = deque(sorted(jobs, key=lambda j: j.order))

    def peek(self) -> PlanJob | None:
        return self._jobs[0] if self._jobs else None

    def pop(self) -> PlanJob:
        return self._jobs.popleft()

    def put(self, job: PlanJob) -> None:
        """Back in line at its place (a preempted job, when a simulation replays several passes)."""
        bisect.insort(self._jobs, job, key=lambda j: j.order)

    def __len__(self) -> int:
        return len(self._jobs)


def order_key(priority: int, sequence: int, job_id: Any) -> tuple:
    """Higher priority first, then submission order (FIFO)."""
    return (-priority, sequence, str(job_id))


@dataclass
class Planner:
    """Replays a cluster forward in time: releases capacity when jobs end, admits waiting jobs in order.

    Jobs wait in one line per queue (GPU type, or "cpu"): the head of a line blocks the jobs behind it, so a
    large job is never starved by smaller ones of the same kind. Lines are served in global priority/FIFO
    order; a head that does not fit reserves what it needs of the free capacity, so the heads after it (lower
    priority, or later) only take what is left: a job never waits behind one that came after it at the same or
    a lower priority, whichever line either waits in.
    """

    total: Capacity
    active: list[PlanJob]
    queues: Mapping[str, QueueSource]
    admitting: bool = True
    events: list[Event] = field(default_factory=list)
    # Capacity held by jobs not replayed here (services that just run, summed by the caller).
    held: list[Demand] = field(default_factory=list)
    # Quotas (jobs.quotas): with a book, a job of a queue is admitted only within what its queue may use now,
    # heads are served by fair share, and with `preempting` a blocked job may preempt admitted ones.
    quota: QuotaBook | None = None
    preempting: bool = False
    quota_at: datetime | None = None  # the moment the book's history was last advanced to

    def __post_init__(self):
        self.free = self.total.copy()
        for demand in self.held:
            self.free.take(demand)
        self._heap: list = []
        self._seq = itertools.count()
        # Why a head waits for quota, as first found (at the plan's start): job id -> Blocked.
        self.waits: dict = {}
        # The (queue, resource) of the lines the last admission round found closed (their heads were not read).
        self.closed_quota_lines: set = set()
        self._ranks: dict = {}  # line key -> (head, queue version, rank)
        self._versions: dict = {}
        self._epoch = 0
        self._active_weights: dict = {}
        self._quota_jobs: dict = {}  # id -> admitted PlanJob of a queue (preemption candidates)
        for job in self.active:
            self.free.take(job.demand)
            self._take_quota(job)
            self._schedule_next(job)

    def _take_quota(self, job: PlanJob) -> None:
        if self.quota is not None and job.queue is not None:
            self.quota.take(job.holder())
            self._quota_jobs[job.id] = job
            self._versions[job.queue] = self._versions.get(job.queue, 0) + 1

    def _give_quota(self, job: PlanJob) -> None:
        if self.quota is not None and job.queue is not None:
            self.quota.give(job.id, job.queue)
            self._quota_jobs.pop(job.id, None)
            self._versions[job.queue] = self._versions.get(job.queue, 0) + 1

    # Each admitted job has at most one pending event: its start (or start-up failure), then its end.
    def _schedule_next(self, job: PlanJob) -> None:
        if job.started_at is None:
            ready = job.admitted_at + timedelta(seconds=job.startup)
            kind = "fail" if job.fails and job.job_type == SERVICE else "start"
            heapq.heappush(self._heap, (ready, next(self._seq), kind, job))
        elif job.job_type != SERVICE and job.duration is not None:
            if job.fails:
                end, kind = job.started_at + timedelta(seconds=job.duration / 2), "fail"
            else:
                end, kind = job.started_at + timedelta(seconds=job.duration), "succeed"
            heapq.heappush(self._heap, (end, next(self._seq), kind, job))

    @property
    def next_event_at(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def process_until(self, t: datetime) -> int:
        """Apply every event due at or before `t`; returns how many released capacity."""
        released = 0
        while self._heap and self._heap[0][0] <= t:
            when, _, kind, job = heapq.heappop(self._heap)
            if job.preempted:
                continue
            self._advance_quota(when)
            if kind == "start":
                job.started_at = when
                self.events.append(Event(when, "start", job))
                self._schedule_next(job)
            else:
                self.free.give(job.demand)
                self._give_quota(job)
                released += 1
                self.events.append(Event(when, kind, job, job.fails or ""))
        self._advance_quota(t)
        return released

    def _advance_quota(self, t: datetime) -> None:
        if self.quota is None:
            return
        if self.quota_at is not None and t > self.quota_at:
            self.quota.advance((t - self.quota_at).total_seconds())
            self._epoch += 1  # every share moved: cached ranks are stale
        if self.quota_at is None or t > self.quota_at:
            self.quota_at = t

    def _rank(self, key: str, head: PlanJob) -> tuple:
        """Heads that stay within their queue's quota (or have none) first, then borrowers from the queue with the
        lowest weighted dominant share; then priority and FIFO. Nobody borrows while a job within its quota waits."""
        if self.quota is None or head.queue is None:
            return (False, 0.0, head.order)
        version = (self._epoch, self._versions.get(head.queue, 0))
        cached = self._ranks.get(key)
        if cached is not None and cached[0] is head and cached[1] == version:
            return cached[2]
        # Share before admission (DRF: serve whoever has least), and whether this job would borrow.
        borrows = self.quota.dominant(head.queue, head.demand.vector) > 0
        rank = (borrows, -self.quota.deficit(head.queue, self._active_weights), head.order)
        self._ranks[key] = (head, version, rank)
        return rank

    def _quota_check(self, job: PlanJob, reserved: dict) -> tuple[Blocked | None, str | None]:
        if self.quota is None or job.queue is None:
            return None, None
        vector = job.demand.vector
        return self.quota.check(job.queue, vector, reserved), self.quota.never_fits(job.queue, vector)

    def _preempt_for(self, job: PlanJob, unreserved: Capacity, t: datetime) -> bool:
        """Preempt what the quota's policies allow so `job` fits its queue (and the cluster): all or nothing."""
        chosen = self.quota.victims(job.queue, job.demand.vector, priority=-job.order[0], sequence=job.order[1])
        if not chosen:
            return False
        victims = [self._quota_jobs[h.id] for h, _ in chosen]
        room = unreserved.copy()
        for victim in victims:
            room.give(victim.demand)
        if not room.fits(job.demand):
            return False
        for victim, (_, reason) in zip(victims, chosen, strict=True):
            victim.preempted = True
            self.free.give(victim.demand)
            unreserved.give(victim.demand)
            self._give_quota(victim)
            self.events.append(Event(t, "preempt", victim, reason, by=job))
        return True

    def _closed_lines(self) -> set[str]:
        """The lines that cannot admit now whatever waits at their head (`QuotaBook.closed`): lines that say which
        queue's quota of which GPU type they wait for (`quota_line`; lines read from the database do)."""
        if self.quota is None:
            return set()
        closed = set()
        for key, line in self.queues.items():
            quota_line = getattr(line, "quota_line", None)
            if quota_line is None or not self.total.gpus.get(quota_line[1].removeprefix(GPU_PREFIX)):
                continue  # a GPU type the cluster no longer has: its jobs are read, to fail them
            if self.quota.closed(*quota_line):
                closed.add(key)
        self.closed_quota_lines = {self.queues[key].quota_line for key in closed}
        return closed

    def _admit(self, t: datetime) -> int:
        admitted = 0
        # A closed line (its queue uses all it may of the line's GPU type: `QuotaBook.closed`) is blocked from the
        # start without reading its head: its head could only wait for quota here, and its wait would change
        # nothing for the others. Usage only grows during an admission round, so it stays closed in it.
        blocked: set[str] = self._closed_lines()
        unreserved = self.free.copy()  # free capacity minus what blocked heads ahead in order reserve
        pool_reserved: dict = {}  # the same for each cohort's pool of quota
        if self.quota is not None:
            if hasattr(self.queues, "load"):  # lines read from a database: the open ones' heads in one read
                self.queues.load(key for key in self.queues if key not in blocked)
            # A closed line's queue holds some of its GPU type, so it counts as wanting without a look at its head.
            wanting = {plan.queue for plan in self._quota_jobs.values()}
            wanting.update(
                head.queue
                for head in (q.peek() for key, q in self.queues.items() if key not in blocked)
                if head is not None
            )
            self._active_weights = self.quota.cohort_weights(wanting)
        # The lines' heads in rank order. A line's rank moves only when its head or its own queue's usage changes:
        # it is pushed again then (lazy deletion: `pushed` holds each line's current entry), so picking the next
        # head costs log(lines), not a look at every line.
        heap: list = []
        pushed: dict = {}

        def push(key: str) -> None:
            if key in blocked:
                return
            head = self.queues[key].peek()
            if head is not None:
                pushed[key] = self._rank(key, head)
                heapq.heappush(heap, (pushed[key], key))

        for key in self.queues:
            push(key)
        while True:
            if not heap:
                return admitted
            best_rank, best_key = heapq.heappop(heap)
            if pushed.get(best_key) != best_rank or best_key in blocked:
                continue
            best = self.queues[best_key].peek()
            if best is None:
                continue
            if self._rank(best_key, best) != best_rank:  # its queue took or gave quota since it was pushed
                push(best_key)
                continue
            waits, never = self._quota_check(best, pool_reserved)
            reason = self.total.never_fits_reason(best.demand) or never
            if reason:
                self.queues[best_key].pop()
                self.events.append(Event(t, "never_fits", best, reason))
                push(best_key)
                continue
            preempted = waits is not None and self.preempting and self._preempt_for(best, unreserved, t)
            if preempted:  # the victims' queues gave quota back: their lines may rank earlier now
                for key in self.queues:
                    if key != best_key:
                        push(key)
            if waits is not None and not preempted:
                # It waits for its queue's quota, not for capacity: it sets aside its cohort's pool, not capacity.
                if best.id not in self.waits:
                    self.waits[best.id] = self.quota.explain(best.queue, waits)
                blocked.add(best_key)
                self.quota.reserve(best.queue, best.demand.vector, pool_reserved)
                continue
            if not unreserved.fits(best.demand):
                blocked.add(best_key)
                unreserved.take(best.demand)
                continue
            self.queues[best_key].pop()
            self.free.take(best.demand)
            unreserved.take(best.demand)
            best.admitted_at = t
            self.waits.pop(best.id, None)
            self._take_quota(best)
            self.events.append(Event(t, "admit", best))
            self._schedule_next(best)
            admitted += 1
            push(best_key)

    def run_until(self, now: datetime) -> None:
        """What a scheduling pass at `now` does: apply due events, then admit at `now` until nothing changes."""
        self.process_until(now)
        while self.admitting:
            admitted = self._admit(now)
            released = self.process_until(now)
            if not admitted and not released:
                break

    def predict(self, now: datetime, *, max_steps: int = 1_000_000) -> None:
        """Continue past `now`: every expected release admits waiting jobs at the moment it happens, until
        nobody waits and everyone admitted has started."""
        self.run_until(now)
        steps = 0
        while self._heap and (
            (self.admitting and any(q.peek() is not None for q in self.queues.values()))
            or any(entry[2] == "start" for entry in self._heap)
        ):
            t = self._heap[0][0]
            self.process_until(t)
            if self.admitting:
                self._admit(t)
            steps += 1
            if steps >= max_steps:
                break
