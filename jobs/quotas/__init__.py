"""Quotas, cohorts, fair share and preemption choices, in the way of Kueue (pure: no Django).

`units` (quota vectors, queues as the scheduler sees them, why a job waits), `book` (a pass's usage per queue:
what a queue may use now, fair share), `preemption` (whom to preempt), `fairness` (the weighted fair shares a
run is compared with).

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

from jobs.quotas.book import QuotaBook
from jobs.quotas.fairness import weighted_fair_shares
from jobs.quotas.units import (
    CPU,
    GPU_PREFIX,
    MEMORY,
    RECLAIM_POLICIES,
    WITHIN_QUEUE_POLICIES,
    Blocked,
    Holder,
    QueueSpec,
    demand_vector,
    describe_resource,
    gpu_key,
    quota_from_vector,
    vector_from_quota,
)

__all__ = [
    "CPU",
    "GPU_PREFIX",
    "MEMORY",
    "RECLAIM_POLICIES",
    "WITHIN_QUEUE_POLICIES",
    "Blocked",
    "Holder",
    "QueueSpec",
    "QuotaBook",
    "demand_vector",
    "describe_resource",
    "gpu_key",
    "quota_from_vector",
    "vector_from_quota",
    "weighted_fair_shares",
]
