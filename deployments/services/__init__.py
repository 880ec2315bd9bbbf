"""Every write of the deployments app: creating, deleting and changing deployments.

`core` holds creation and deletion; `placement` where a deployment goes and what it costs there (the preview);
`lifecycle` holds changes to running deployments (plan, update, scale, rollback, upgrade; the scale request's shape in
`scaling`). Events, revisions and queued passes are in
`deployments.records`.
"""

from deployments.services.core import deployment_create, deployment_delete, deployments_requeue_stale
from deployments.services.lifecycle import (
    deployment_cancel_change,
    deployment_change_plan,
    deployment_rollback,
    deployment_scale,
    deployment_update,
)
from deployments.services.placement import deployment_preview, plan_capacity_and_cost
from deployments.services.zero import component_scale_to_zero, deployment_wake

__all__ = [
    "component_scale_to_zero",
    "deployment_cancel_change",
    "deployment_change_plan",
    "deployment_create",
    "deployment_delete",
    "deployment_preview",
    "deployment_rollback",
    "deployment_scale",
    "deployment_update",
    "deployment_wake",
    "deployments_requeue_stale",
    "plan_capacity_and_cost",
]
