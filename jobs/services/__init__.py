"""Every write of the job layer; reads (costs, queue positions, capacity checks) are in `jobs.selectors`.

`clusters` registers and changes clusters, `queues` their quotas (ClusterQueue, LocalQueue), `preemption` stops
an admitted job and puts it back in line, `connections` checks a Kubernetes cluster's credentials and reads its
inventory, `submission` records jobs, `changes` cancels, resizes, merges and
re-prioritises them, and `passes` runs the driver's scheduling pass over one cluster or all. Other apps
(deployments) call these functions; nothing outside `jobs/` talks to a driver.
"""

from jobs.drivers import SchedulePassResult
from jobs.services.changes import job_absorb, job_cancel, job_resize, job_update
from jobs.services.clusters import cluster_create, cluster_delete, cluster_update, cluster_validate
from jobs.services.connections import cluster_check
from jobs.services.passes import cluster_schedule_pass, jobs_advance_all
from jobs.services.preemption import job_preempt
from jobs.services.queues import (
    cluster_queue_create,
    cluster_queue_delete,
    cluster_queue_update,
    local_queue_create,
    local_queue_delete,
)
from jobs.services.resume import job_requeue
from jobs.services.sets import (
    cluster_set_create,
    cluster_set_delete,
    cluster_set_replace_waiting,
    cluster_set_submit,
    cluster_set_update,
)
from jobs.services.submission import job_submit, jobs_submit_many

__all__ = [
    "SchedulePassResult",
    "cluster_check",
    "cluster_create",
    "cluster_delete",
    "cluster_queue_create",
    "cluster_queue_delete",
    "cluster_queue_update",
    "cluster_schedule_pass",
    "cluster_set_create",
    "cluster_set_delete",
    "cluster_set_replace_waiting",
    "cluster_set_submit",
    "cluster_set_update",
    "cluster_update",
    "cluster_validate",
    "job_absorb",
    "job_cancel",
    "job_preempt",
    "job_requeue",
    "job_resize",
    "job_submit",
    "job_update",
    "jobs_advance_all",
    "jobs_submit_many",
    "local_queue_create",
    "local_queue_delete",
]
