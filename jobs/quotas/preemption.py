"""Whom to preempt so a blocked job fits its queue (Kueue's policies): reclaim from the cohort's borrowers, then
lower priority within the queue; lowest priority first, newest first. With fair-sharing preemption, a queue may also
take from queues above their fair share, as Kueue's `fairSharing` strategies do. A mixin of `QuotaBook`.

Fair-sharing preemption (`QueueSpec.fair_sharing_preemption`), Kueue's algorithm: the preempting queue's weighted
share *with* the job (`S_p`) is compared with the weighted share of each candidate queue, the one with the largest
share first, its lowest-priority and newest job first:

- LessThanOrEqualToFinalShare: preempt a job of queue V only if `S_p <= S_v without that job`. After it, the
  preemptor's share is still at or below the victim queue's, so V can never preempt it back (V's share with its job
  back would be above P's without the job V would take): no flapping.
- LessThanInitialShare (after the first, for what it could not free): preempt if `S_p < S_v` before the preemption.
  It frees more but can preempt a job back and forth (jobs/tests/test_fair_preemption.py shows it).

A share is Kueue's dominant resource share: the largest fraction of the cohort's lendable pool the queue uses beyond
its nominal quota, divided by the queue's weight. Only queues that borrow are candidates, so nothing a queue uses
within its nominal quota is ever taken by fair sharing.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from jobs.quotas.units import Holder, QueueSpec

EPSILON = 1e-9
RECLAIMED = "reclaimed within the cohort"
WITHIN = "higher priority in its queue"


class Preemption:
    """The preemption choices of a QuotaBook (it provides queues, usage, holders, check and available)."""

    def victims(
        self, queue_id, vector: Mapping[str, int], *, priority: int, sequence: int
    ) -> list[tuple[Holder, str]] | None:
        """The admitted jobs to preempt so a job of `queue_id` fits its quota, each with the reason, or None when no
        allowed set of victims makes room. Reclaim first (borrowers of the cohort, while the queue is under its
        nominal quota in what it lacks), then within the queue; lowest priority first, newest first. A queue with
        fair-sharing preemption chooses by shares instead (`_fair_victims`)."""
        queue = self.queues.get(queue_id)
        if queue is None or (queue.reclaim_within_cohort == "Never" and queue.within_cluster_queue == "Never"):
            return None
        if self.check(queue_id, vector) is None:
            return None
        saved = {q: dict(u) for q, u in self.usage.items()}, dict(self.pool_used)
        try:
            if queue.cohort and queue.fair_sharing_preemption != "Never":
                chosen = self._fair_victims(queue, vector, priority=priority, sequence=sequence)
            else:
                chosen = self._classic_victims(queue, vector, priority=priority, sequence=sequence)
        finally:
            self.usage = saved[0]
            self.pool_used = saved[1]
        return chosen or None

    def _classic_victims(self, queue: QueueSpec, vector, *, priority: int, sequence: int) -> list | None:
        chosen: list[tuple[Holder, str]] = []
        for holder in self._candidates(queue, vector, priority=priority, sequence=sequence):
            if self.check(queue.id, vector) is None:
                break
            if holder.queue != queue.id and not self._still_borrows(holder):
                continue
            self._add(holder.queue, holder.vector, -1)
            chosen.append((holder, RECLAIMED if holder.queue != queue.id else WITHIN))
        return chosen if self.check(queue.id, vector) is None else None

    def _still_borrows(self, holder: Holder) -> bool:
        """Reclaim only takes from a queue that uses more than its nominal quota of something the job holds."""
        return any(amount and self.borrowed(holder.queue, key) > 0 for key, amount in holder.vector.items())

    def _short(self, queue: QueueSpec, vector: Mapping[str, int]) -> set[str]:
        room = {k: self.available(queue.id, k) for k in vector}
        return {k for k, v in vector.items() if v and room[k] is not None and room[k] < v}

    def _own_candidates(self, queue: QueueSpec, short: set, *, priority: int, sequence: int) -> list[Holder]:
        own: list[Holder] = []
        if queue.within_cluster_queue != "Never":
            for holder in self.holders[queue.id].values():
                if not any(holder.vector.get(k) for k in short):
                    continue
                lower = holder.priority < priority
                newer_equal = holder.priority == priority and holder.sequence > sequence
                if lower or (queue.within_cluster_queue == "LowerOrNewerEqualPriority" and newer_equal):
                    own.append(holder)
        return sorted(own, key=lambda h: (h.priority, -h.sequence))

    def _cohort_candidates(self, queue: QueueSpec, short: set, *, priority: int) -> dict:
        """Per other queue of the cohort: its jobs holding what the job lacks, if the reclaim policy allows."""
        found: dict = {}
        if not queue.cohort or queue.reclaim_within_cohort == "Never":
            return found
        for other in self.members[queue.cohort]:
            if other.id == queue.id:
                continue
            for holder in self.holders[other.id].values():
                if not any(holder.vector.get(k) for k in short):
                    continue
                if queue.reclaim_within_cohort == "LowerPriority" and holder.priority >= priority:
                    continue
                found.setdefault(other.id, []).append(holder)
        return found

    def _candidates(self, queue: QueueSpec, vector: Mapping[str, int], *, priority: int, sequence: int):
        short = self._short(queue, vector)
        below_nominal = any(self.used(queue.id, k) + vector[k] <= queue.nominal.get(k, 0) for k in short)
        found: list[Holder] = []
        if below_nominal:
            for holders in self._cohort_candidates(queue, short, priority=priority).values():
                found.extend(holders)
        reclaim = sorted(found, key=lambda h: (h.priority, -h.sequence))
        return [*reclaim, *self._own_candidates(queue, short, priority=priority, sequence=sequence)]

    # --- fair sharing ----------------------------------------------------------------------------------------

    def weighted_share(self, queue_id, extra: Mapping[str, int] | None = None, sign: int = 1) -> float:
        """Kueue's share: the dominant share of the borrowed part (with `extra` added, or taken with sign=-1) over
        the queue's weight."""
        queue = self.queues[queue_id]
        delta = {k: sign * v for k, v in (extra or {}).items()}
        return self.dominant(queue_id, delta) / queue.weight

    def _borrows_any(self, queue_id, keys) -> bool:
        return any(self.borrowed(queue_id, key) > 0 for key in keys)

    def _fair_victims(self, queue: QueueSpec, vector, *, priority: int, sequence: int) -> list | None:
        short = self._short(queue, vector)
        lines = {
            q: sorted(holders, key=lambda h: (h.priority, -h.sequence))
            for q, holders in self._cohort_candidates(queue, short, priority=priority).items()
            if self._borrows_any(q, short)
        }
        own = self._own_candidates(queue, short, priority=priority, sequence=sequence)
        if own:
            lines[queue.id] = own
        chosen: list[tuple[Holder, str]] = []
        mine = self.weighted_share(queue.id, vector)
        heap = [(-self.weighted_share(q), self.queues[q].name, q) for q in lines]
        heapq.heapify(heap)
        retry: dict = {}
        fits = False
        while heap and not fits:
            _, _, q = heapq.heappop(heap)
            line = lines[q]
            if q == queue.id:  # its own lower-priority jobs, as its within-queue policy allows
                holder = line.pop(0)
                self._add(q, holder.vector, -1)
                chosen.append((holder, WITHIN))
                fits = self.check(queue.id, vector) is None
                mine = self.weighted_share(queue.id, vector)
                if line:
                    heapq.heappush(heap, (-self.weighted_share(q), self.queues[q].name, q))
                continue
            for index, holder in enumerate(line):
                after = self.weighted_share(q, holder.vector, -1)
                if mine <= after + EPSILON:
                    self._add(q, holder.vector, -1)
                    chosen.append((holder, self._fair_reason(queue, mine, q, after, "at most")))
                    retry.pop(holder.id, None)
                    fits = self.check(queue.id, vector) is None
                    del line[index]
                    if line and self._borrows_any(q, short):
                        heapq.heappush(heap, (-self.weighted_share(q), self.queues[q].name, q))
                    break
                retry[holder.id] = holder
        if not fits and queue.fair_sharing_preemption == "LessThanInitialShare":
            fits = self._initial_share_victims(queue, vector, mine, list(retry.values()), chosen)
        if not fits:
            return None
        return self._fill_back(queue, vector, chosen)

    def _initial_share_victims(self, queue: QueueSpec, vector, mine: float, retry: list, chosen: list) -> bool:
        """Kueue's second strategy: preempt from queues whose share now is above the preemptor's with the job."""
        lines: dict = {}
        for holder in sorted(retry, key=lambda h: (h.priority, -h.sequence)):
            lines.setdefault(holder.queue, []).append(holder)
        heap = [(-self.weighted_share(q), self.queues[q].name, q) for q in lines]
        heapq.heapify(heap)
        while heap:
            share, _, q = heapq.heappop(heap)
            if mine < -share - EPSILON:
                holder = lines[q][0]
                self._add(q, holder.vector, -1)
                chosen.append((holder, self._fair_reason(queue, mine, q, -share, "below")))
                if self.check(queue.id, vector) is None:
                    return True
        return False

    def _fill_back(self, queue: QueueSpec, vector, chosen: list) -> list:
        """Give back, newest choice first (but the last), every victim the job fits without."""
        kept = list(chosen)
        for index in range(len(kept) - 2, -1, -1):
            holder = kept[index][0]
            self._add(holder.queue, holder.vector, +1)
            if self.check(queue.id, vector) is None:
                del kept[index]
            else:
                self._add(holder.queue, holder.vector, -1)
        return kept

    def _fair_reason(self, queue: QueueSpec, mine: float, other, theirs: float, relation: str) -> str:
        return (
            f"fair sharing: queue {queue.name}'s share with the job ({mine:.3f}) is {relation} queue"
            f" {self.queues[other].name}'s ({theirs:.3f})"
        )
