"""Quotas, cohorts, fair share and preemption choices, in the way of Kueue (pure: no Django).

A ClusterQueue holds a nominal quota per resource: one per GPU type ("gpu:H100-80GB", in GPUs), "cpu" (millicores)
and "memory" (MiB). A resource the queue does not name is not limited by it. Queues that share a cohort lend each
other their unused quota:

- guaranteed = nominal - lending_limit (0 without a lending limit): the part no other queue may borrow;
- the cohort's pool of a resource is what its queues may lend (nominal - guaranteed, summed);
- a queue may use what is left of its guaranteed part plus what is left of the pool, and never more than
  nominal + borrowing_limit (no limit when the queue sets none).

`QuotaBook` keeps every queue's usage during a pass; the planner asks it whether a job fits now (`check`), how to
order the heads of the lines (`rank`: weighted dominant-resource share after admission, borrowers after everyone
within their quota), and which admitted jobs to preempt so a blocked job fits (`victims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

CPU = "cpu"
MEMORY = "memory"
GPU_PREFIX = "gpu:"

# Kueue's preemption policy names.
RECLAIM_POLICIES = ("Never", "LowerPriority", "Any")
WITHIN_QUEUE_POLICIES = ("Never", "LowerPriority", "LowerOrNewerEqualPriority")


def gpu_key(gpu_type: str) -> str:
    return f"{GPU_PREFIX}{gpu_type}"


def vector_from_quota(quota: Mapping[str, Any] | None) -> dict[str, int]:
    """{"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512} (a cluster inventory's shape) -> units."""
    quota = quota or {}
    vector = {gpu_key(str(t)): int(n) for t, n in (quota.get("gpus") or {}).items()}
    if quota.get("cpu_cores") is not None:
        vector[CPU] = round(float(quota["cpu_cores"]) * 1000)
    if quota.get("memory_gib") is not None:
        vector[MEMORY] = round(float(quota["memory_gib"]) * 1024)
    return vector


def quota_from_vector(vector: Mapping[str, int]) -> dict:
    """The inverse of vector_from_quota (for the API and the console)."""
    out: dict = {"gpus": {}}
    for key, value in sorted(vector.items()):
        if key.startswith(GPU_PREFIX):
            out["gpus"][key[len(GPU_PREFIX) :]] = value
        elif key == CPU:
            out["cpu_cores"] = value / 1000
        elif key == MEMORY:
            out["memory_gib"] = value / 1024
    return out


def demand_vector(gpu_type: str | None, gpus: int, millicores: int, memory_mib: int) -> dict[str, int]:
    vector = {CPU: millicores, MEMORY: memory_mib}
    if gpus and gpu_type:
        vector[gpu_key(gpu_type)] = gpus
    return vector


def describe_resource(key: str, amount: int) -> str:
    if key.startswith(GPU_PREFIX):
        return f"{amount} x {key[len(GPU_PREFIX) :]} GPU"
    if key == CPU:
        return f"{amount / 1000:g} CPU"
    return f"{amount / 1024:g} GiB memory"


@dataclass(frozen=True)
class QueueSpec:
    """A ClusterQueue as the scheduler sees it."""

    id: Any
    name: str
    nominal: Mapping[str, int]
    cohort: str | None = None
    borrowing_limit: Mapping[str, int] = field(default_factory=dict)  # a missing resource: no limit
    lending_limit: Mapping[str, int] = field(default_factory=dict)  # a missing resource: lends all its unused quota
    weight: float = 1.0
    reclaim_within_cohort: str = "Never"
    within_cluster_queue: str = "Never"

    def guaranteed(self, key: str) -> int:
        if key not in self.lending_limit:
            return 0
        return max(0, self.nominal.get(key, 0) - self.lending_limit[key])

    def lendable(self, key: str) -> int:
        return self.nominal.get(key, 0) - self.guaranteed(key)


@dataclass(frozen=True)
class Blocked:
    """Why a job does not fit its queue now: the first resource short, what it needs and what the queue may use."""

    queue: str
    resource: str
    needs: int
    available: int
    nominal: int
    used: int
    cohort: str | None
    held_by: tuple = ()  # (queue name, amount) of the cohort's biggest users of the resource

    def describe(self) -> str:
        text = (
            f"Waiting for quota in queue {self.queue}: needs {describe_resource(self.resource, self.needs)},"
            f" the queue may use {describe_resource(self.resource, self.available)} more now"
            f" (nominal {describe_resource(self.resource, self.nominal)},"
            f" in use {describe_resource(self.resource, self.used)}"
        )
        if self.cohort:
            text += f", cohort {self.cohort}"
        text += ")"
        if self.held_by:
            users = ", ".join(f"{name} {describe_resource(self.resource, amount)}" for name, amount in self.held_by)
            text += f"; held by {users}"
        return text


@dataclass
class Holder:
    """An admitted job as preemption sees it."""

    id: Any
    queue: Any
    vector: Mapping[str, int]
    priority: int
    sequence: int


class QuotaBook:
    """Every queue's usage on one cluster during a pass, and the rules over it."""

    def __init__(self, queues: Iterable[QueueSpec], *, history: Mapping | None = None, half_life: float = 300.0):
        self.queues: dict[Any, QueueSpec] = {q.id: q for q in queues}
        # Per queue: the recent average of its dominant share (see `share`), carried from pass to pass.
        self.history: dict[Any, float] = dict(history or {})
        self.half_life = half_life
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

    # --- usage ---------------------------------------------------------------------------------------------

    def used(self, queue_id, key: str) -> int:
        return self.usage[queue_id].get(key, 0)

    def _over_guarantee(self, queue: QueueSpec, key: str, used: int) -> int:
        return max(0, used - queue.guaranteed(key))

    def _add(self, queue_id, vector: Mapping[str, int], sign: int) -> None:
        queue = self.queues[queue_id]
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
        members = self.members.get(queue.cohort, [queue]) if queue.cohort else [queue]
        users = sorted(((self.used(m.id, key), m.name) for m in members if self.used(m.id, key)), reverse=True)
        return tuple((name, amount) for amount, name in users[:3])

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
        return (now + self.history.get(queue_id, now)) / 2 if self.half_life else now

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
        time constant of `half_life` (an exponentially weighted average, as Kueue's admission fair sharing)."""
        if seconds <= 0 or not self.half_life:
            return
        keep = 0.5 ** (seconds / self.half_life)
        for queue_id, queue in self.queues.items():
            if queue.cohort:
                before = self.history.get(queue_id, 0.0)
                self.history[queue_id] = before * keep + self.dominant(queue_id) * (1 - keep)

    # --- preemption ------------------------------------------------------------------------------------------

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


def weighted_fair_shares(capacity: float, weights: Mapping[Any, float], demands: Mapping[Any, float]) -> dict:
    """Water-filling: split `capacity` by weight, capping each at its demand and handing the rest on (the
    reference the fair-share bench compares GPU-hours with)."""
    shares = {key: 0.0 for key in weights}
    open_keys = {key for key in weights if demands.get(key, 0) > 0 and weights[key] > 0}
    left = capacity
    while open_keys and left > 1e-9:
        total_weight = sum(weights[k] for k in open_keys)
        step = {k: left * weights[k] / total_weight for k in open_keys}
        capped = {k for k in open_keys if shares[k] + step[k] >= demands[k]}
        if not capped:
            for k in open_keys:
                shares[k] += step[k]
            break
        for k in capped:
            left -= demands[k] - shares[k]
            shares[k] = demands[k]
        open_keys -= capped
    return shares
