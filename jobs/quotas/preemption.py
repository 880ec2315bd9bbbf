"""Whom to preempt so a blocked job fits its queue (Kueue's policies): reclaim from the cohort's borrowers, then
lower priority within the queue; lowest priority first, newest first. A mixin of `QuotaBook` (jobs.quotas.book)."""

from __future__ import annotations

from collections.abc import Mapping

from jobs.quotas.units import Holder, QueueSpec


class Preemption:
    """The preemption choices of a QuotaBook (it provides queues, usage, holders, check and available)."""

    def victims(self, queue_id, vector: Mapping[str, int], *, priority: int, sequence: int) -> list[Holder] | None:
        """The admitted jobs to preempt so a job of `queue_id` fits its quota, or None when no allowed set of
        victims makes room. Reclaim first (borrowers of the cohort, while the queue is under its nominal quota
        in what it lacks), then within the queue; lowest priority first, newest first."""
        queue = self.queues.get(queue_id)
        if queue is None or (queue.reclaim_within_cohort == "Never" and queue.within_cluster_queue == "Never"):
            return None
        if self.check(queue_id, vector) is None:
            return None
        chosen: list[Holder] = []
        saved = {q: dict(u) for q, u in self.usage.items()}, dict(self.pool_used)
        try:
            for holder in self._candidates(queue, vector, priority=priority, sequence=sequence):
                if self.check(queue_id, vector) is None:
                    break
                if holder.queue != queue_id and not self._still_borrows(holder):
                    continue
                self._add(holder.queue, holder.vector, -1)
                chosen.append(holder)
            fits = self.check(queue_id, vector) is None
        finally:
            self.usage = saved[0]
            self.pool_used = saved[1]
        return chosen if fits and chosen else None

    def _still_borrows(self, holder: Holder) -> bool:
        """Reclaim only takes from a queue that uses more than its nominal quota of something the job holds."""
        return any(amount and self.borrowed(holder.queue, key) > 0 for key, amount in holder.vector.items())

    def _candidates(self, queue: QueueSpec, vector: Mapping[str, int], *, priority: int, sequence: int):
        room = {k: self.available(queue.id, k) for k in vector}
        short = {k for k, v in vector.items() if v and room[k] is not None and room[k] < v}
        below_nominal = any(self.used(queue.id, k) + vector[k] <= queue.nominal.get(k, 0) for k in short)
        found: list[Holder] = []
        if queue.cohort and below_nominal and queue.reclaim_within_cohort != "Never":
            for other in self.members[queue.cohort]:
                if other.id == queue.id:
                    continue
                for holder in self.holders[other.id].values():
                    if not any(holder.vector.get(k) for k in short):
                        continue
                    if queue.reclaim_within_cohort == "LowerPriority" and holder.priority >= priority:
                        continue
                    found.append(holder)
        reclaim = sorted(found, key=lambda h: (h.priority, -h.sequence))
        own: list[Holder] = []
        if queue.within_cluster_queue != "Never":
            for holder in self.holders[queue.id].values():
                if not any(holder.vector.get(k) for k in short):
                    continue
                lower = holder.priority < priority
                newer_equal = holder.priority == priority and holder.sequence > sequence
                if lower or (queue.within_cluster_queue == "LowerOrNewerEqualPriority" and newer_equal):
                    own.append(holder)
        return [*reclaim, *sorted(own, key=lambda h: (h.priority, -h.sequence))]
