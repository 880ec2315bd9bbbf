"""Every queue's usage on one cluster during a pass: what a queue may use now (nominal, cohort pool, borrowing and
lending limits), why a job waits, and the weighted dominant shares that order the lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from jobs.quotas.preemption import Preemption
from jobs.quotas.units import Blocked, Holder, QueueSpec, describe_resource


class QuotaBook(Preemption):
    """Every queue's usage on one cluster during a pass, and the rules over it."""

    def __init__(self, queues: Iterable[QueueSpec], *, history: Mapping | None = None, half_life: float = 300.0):
        self.queues: dict[Any, QueueSpec] = {q.id: q for q in queues}
        # Per queue: the recent average of its dominant share (see `share`), carried from pass to pass. Brought up to
        # the book's time lazily (`_sync`): `_elapsed` is how far the book advanced, `_synced` where each queue is.
        self._history: dict[Any, float] = dict(history or {})
        self.half_life = half_life
        self._elapsed = 0.0
        self._synced: dict[Any, float] = {}
        self._held_by_cache: dict[tuple, tuple] = {}  # (cohort or queue, resource) -> `_held_by`, until usage moves
        self.usage: dict[Any, dict[str, int]] = {q: {} for q in self.queues}
        self.members: dict[str, list[QueueSpec]] = {}
        for queue in self.queues.values():
            if queue.cohort:
                self.members.setdefault(queue.cohort, []).append(queue)
        # Per cohort and resource: the pool that may be lent and how much of it is in use (kept up to date).
        self.pool: dict[tuple[str, str], int] = {}
        self.pool_used: dict[tuple[str, str], int] = {}
        for cohort, members in self.members.items():
            for queue in members:
                for key in queue.nominal:
                    self.pool[(cohort, key)] = self.pool.get((cohort, key), 0) + queue.lendable(key)
                    self.pool_used.setdefault((cohort, key), 0)
        self.holders: dict[Any, dict[Any, Holder]] = {q: {} for q in self.queues}
        # The cohorts (or queues without one) where an admission may preempt: quota can come back during a pass.
        # Reclaim and fair-sharing preemption act within a cohort only.
        self._preempting = {
            queue.cohort or queue.id
            for queue in self.queues.values()
            if queue.within_cluster_queue != "Never"
            or (queue.cohort and (queue.reclaim_within_cohort != "Never" or queue.fair_sharing_preemption != "Never"))
        }

    # --- usage ---------------------------------------------------------------------------------------------

    def used(self, queue_id, key: str) -> int:
        return self.usage[queue_id].get(key, 0)

    def _over_guarantee(self, queue: QueueSpec, key: str, used: int) -> int:
        return max(0, used - queue.guaranteed(key))

    def _add(self, queue_id, vector: Mapping[str, int], sign: int) -> None:
        queue = self.queues[queue_id]
        self._sync(queue_id)  # its history averaged the usage it had until now
        self._held_by_cache.clear()
        usage = self.usage[queue_id]
        for key, amount in vector.items():
            if not amount:
                continue
            before = usage.get(key, 0)
            after = before + sign * amount
            usage[key] = after
            if queue.cohort and key in queue.nominal:
                pool_key = (queue.cohort, key)
                delta = self._over_guarantee(queue, key, after) - self._over_guarantee(queue, key, before)
                self.pool_used[pool_key] += delta

    def take(self, holder: Holder) -> None:
        """Count an admitted job against its queue."""
        if holder.queue not in self.queues:
            return
        self._add(holder.queue, holder.vector, +1)
        self.holders[holder.queue][holder.id] = holder

    def add_usage(self, queue_id, vector: Mapping[str, int]) -> None:
        """Count usage no single job is named for (sums read from the database, for reports)."""
        self._add(queue_id, vector, +1)

    def give(self, holder_id, queue_id) -> None:
        """A job of the queue released what it held (finished, failed, preempted)."""
        holder = self.holders.get(queue_id, {}).pop(holder_id, None)
        if holder is not None:
            self._add(queue_id, holder.vector, -1)

    # --- what a queue may use --------------------------------------------------------------------------------

    def available(self, queue_id, key: str, reserved: Mapping | None = None) -> int | None:
        """How much more of `key` the queue may take now (None: the queue does not limit it). `reserved` holds
        what blocked heads ahead of it set aside of each cohort's pool ({(cohort, key): amount})."""
        queue = self.queues[queue_id]
        if key not in queue.nominal:
            return None
        used = self.used(queue_id, key)
        if not queue.cohort:
            return max(0, queue.nominal[key] - used)
        local = max(0, queue.guaranteed(key) - used)
        pool_key = (queue.cohort, key)
        room = local + max(0, self.pool[pool_key] - self.pool_used[pool_key] - (reserved or {}).get(pool_key, 0))
        if key in queue.borrowing_limit:
            room = min(room, queue.nominal[key] + queue.borrowing_limit[key] - used)
        return max(0, room)

    def check(self, queue_id, vector: Mapping[str, int], reserved: Mapping | None = None) -> Blocked | None:
        """None when the job fits its queue now, else the first resource that is short."""
        queue = self.queues.get(queue_id)
        if queue is None:
            return None
        for key in sorted(vector):
            amount = vector[key]
            room = self.available(queue_id, key, reserved)
            if amount and room is not None and amount > room:
                return Blocked(
                    queue=queue.name,
                    resource=key,
                    needs=amount,
                    available=room,
                    nominal=queue.nominal.get(key, 0),
                    used=self.used(queue_id, key),
                    cohort=queue.cohort,
                )
        return None

    def explain(self, queue_id, blocked: Blocked) -> Blocked:
        """The same wait with who holds the resource (the cohort's biggest users), for a status message."""
        queue = self.queues[queue_id]
        return replace(blocked, held_by=self._held_by(queue, blocked.resource))

    def _held_by(self, queue: QueueSpec, key: str) -> tuple:
        """The cohort's three biggest users of `key` (the same for every head of the cohort that waits for it, so
        kept until usage moves: a pass explains ~100 waiting heads)."""
        cache_key = (queue.cohort or queue.id, key)
        found = self._held_by_cache.get(cache_key)
        if found is None:
            members = self.members.get(queue.cohort, [queue]) if queue.cohort else [queue]
            users = sorted(((self.used(m.id, key), m.name) for m in members if self.used(m.id, key)), reverse=True)
            found = self._held_by_cache[cache_key] = tuple((name, amount) for amount, name in users[:3])
        return found

    def closed(self, queue_id, key: str) -> bool:
        """Whether every job of the queue that asks for `key` waits now, and its wait changes nothing for anybody
        else, so a pass need not read it: the queue uses some of `key` (so it will release it: a queue that holds
        none may be one that can never admit, and its jobs must be read to fail them) and may take no more of it;
        its cohort's pool of `key` has no room left (a waiting head would set aside a part of it, `reserve`); and
        no queue of its cohort preempts (a preemption can give quota back during a pass)."""
        queue = self.queues.get(queue_id)
        if queue is None or key not in queue.nominal or (queue.cohort or queue.id) in self._preempting:
            return False
        if not self.used(queue_id, key) or self.available(queue_id, key):
            return False
        return not queue.cohort or self.pool[(queue.cohort, key)] <= self.pool_used[(queue.cohort, key)]

    def never_fits(self, queue_id, vector: Mapping[str, int]) -> str | None:
        """Why a job could never be admitted by its queue, even with the whole cohort idle."""
        queue = self.queues.get(queue_id)
        if queue is None:
            return None
        for key, amount in sorted(vector.items()):
            if not amount or key not in queue.nominal:
                continue
            most = queue.nominal[key]
            if queue.cohort:
                most = queue.guaranteed(key) + self.pool[(queue.cohort, key)]
                if key in queue.borrowing_limit:
                    most = min(most, queue.nominal[key] + queue.borrowing_limit[key])
            if amount > most:
                return (
                    f"asks for {describe_resource(key, amount)}; queue {queue.name} may never use more than"
                    f" {describe_resource(key, most)}"
                )
        return None

    def reserve(self, queue_id, vector: Mapping[str, int], reserved: dict) -> None:
        """A head that waits for its cohort's pool sets aside what it asks, so queues served after it (a higher
        share, a lower priority) do not take the pool it waits for."""
        queue = self.queues.get(queue_id)
        if queue is None or not queue.cohort:
            return
        for key, amount in vector.items():
            if amount and key in queue.nominal:
                reserved[(queue.cohort, key)] = reserved.get((queue.cohort, key), 0) + amount

    # --- fair share ------------------------------------------------------------------------------------------

    def borrowed(self, queue_id, key: str) -> int:
        queue = self.queues[queue_id]
        return max(0, self.used(queue_id, key) - queue.nominal.get(key, 0))

    def dominant(self, queue_id, extra: Mapping[str, int] | None = None) -> float:
        """The largest fraction of its cohort's pool the queue borrows (0 within its nominal quota)."""
        queue = self.queues.get(queue_id)
        if queue is None or not queue.cohort:
            return 0.0
        extra = extra or {}
        worst = 0.0
        for key, nominal in queue.nominal.items():
            pool = self.pool.get((queue.cohort, key), 0)
            if pool <= 0:
                continue
            borrowed = max(0, self.used(queue_id, key) + extra.get(key, 0) - nominal)
            worst = max(worst, borrowed / pool)
        return worst

    def share(self, queue_id) -> float:
        """The queue's recent dominant share: what it borrows now, averaged with what it borrowed recently (the
        decayed history), so a queue whose big job just ended does not jump the line at once."""
        queue = self.queues.get(queue_id)
        if queue is None or not queue.cohort:
            return 0.0
        now = self.dominant(queue_id)
        self._sync(queue_id)
        return (now + self._history.get(queue_id, now)) / 2 if self.half_life else now

    def deficit(self, queue_id, active: Mapping[str, float]) -> float:
        """How far the queue is below its weighted fair share of its cohort's pool: weight over the weights of the
        cohort's queues that want something (`active`: cohort -> sum of weights), minus its share."""
        queue = self.queues.get(queue_id)
        if queue is None or not queue.cohort:
            return 0.0
        total = active.get(queue.cohort) or queue.weight
        return queue.weight / total - self.share(queue_id)

    def cohort_weights(self, queue_ids: Iterable) -> dict[str, float]:
        """Per cohort, the sum of the weights of these queues (the ones that hold or want something)."""
        weights: dict[str, float] = {}
        for queue_id in set(queue_ids):
            queue = self.queues.get(queue_id)
            if queue is not None and queue.cohort:
                weights[queue.cohort] = weights.get(queue.cohort, 0.0) + queue.weight
        return weights

    def advance(self, seconds: float) -> None:
        """Let time pass at the current usage: each queue's history moves toward its dominant share, with a
        time constant of `half_life` (an exponentially weighted average, as Kueue's admission fair sharing).

        Lazily: a pass advances the book at every event it replays (~170 for a pass that refills a cluster), and
        moving 50 queues' histories each time was a fifth of such a pass. A queue's dominant share moves only with
        its own usage, and `_add` brings its history up to date first, so one step over the time since its last
        change (`_sync`) is the same average as one step per advance."""
        if seconds > 0 and self.half_life:
            self._elapsed += seconds

    def _sync(self, queue_id) -> None:
        elapsed = self._elapsed - self._synced.get(queue_id, 0.0)
        if elapsed <= 0 or not self.queues[queue_id].cohort:
            return
        self._synced[queue_id] = self._elapsed
        keep = 0.5 ** (elapsed / self.half_life)
        before = self._history.get(queue_id, 0.0)
        self._history[queue_id] = before * keep + self.dominant(queue_id) * (1 - keep)

    @property
    def history(self) -> dict[Any, float]:
        """Every queue's history, up to the book's time (the pass saves it for the next)."""
        for queue_id in self.queues:
            self._sync(queue_id)
        return self._history
