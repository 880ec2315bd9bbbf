"""Every write of the deployments app: creating, deleting and changing deployments, and their events.

`core` holds creation, preview, deletion and the event/queue helpers; `lifecycle` holds changes to running
deployments (plan, update, scale, rollback, upgrade). Import from here.
"""

from deployments.services.core import (
    deployment_create,
    deployment_delete,
    deployment_preview,
    deployments_requeue_stale,
    event_record,
    plan_capacity_and_cost,
    plan_public_dict,
    reconcile_enqueue,
)
from deployments.services.lifecycle import (
    deployment_cancel_change,
    deployment_change_plan,
    deployment_rollback,
    deployment_scale,
    deployment_update,
    revision_record,
)

__all__ = [
    "deployment_cancel_change",
    "deployment_change_plan",
    "deployment_create",
    "deployment_delete",
    "deployment_preview",
    "deployment_rollback",
    "deployment_scale",
    "deployment_update",
    "deployments_requeue_stale",
    "event_record",
    "plan_capacity_and_cost",
    "plan_public_dict",
    "reconcile_enqueue",
    "revision_record",
]
