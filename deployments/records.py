"""What both the services and the reconciler write: events, revisions, component rows, and a queued reconcile.

A leaf of the deployments app: it imports models only, so the services (which start changes) and the reconcile
loop (which carries them out) can both use it without needing each other. The reconcile task is enqueued by its
registered name, so this module does not import the tasks module either.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from config.celery_app import app as celery_app
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment

RECONCILE_TASK = "deployments.reconcile_deployment"


def event_record(
    *,
    deployment: UseCaseDeployment,
    kind: str,
    message: str = "",
    component: ComponentDeployment | None = None,
    data: dict | None = None,
) -> DeploymentEvent:
    """Append one event to a deployment's timeline."""
    return DeploymentEvent.objects.create(
        deployment=deployment, component=component, kind=kind, message=message, data=data or {}
    )


def revision_record(
    *, deployment: UseCaseDeployment, kind: str, user=None, number: int | None = None, **fields
) -> DeploymentRevision:
    """Append the next numbered revision of a deployment (`number` when the caller knows it: a create's is 1, and
    the unique (deployment, number) constraint refuses a wrong one)."""
    if number is None:
        number = (deployment.revisions.aggregate(last=Max("number"))["last"] or 0) + 1
    return DeploymentRevision.objects.create(
        deployment=deployment,
        number=number,
        kind=kind,
        created_by=user if getattr(user, "pk", None) else None,
        **fields,
    )


def component_row(*, deployment: UseCaseDeployment, planned: dict, **fields) -> ComponentDeployment:
    """An unsaved row for one planned component (the plan's dict of it); `fields` set the rest or override."""
    values = {
        "key": planned["key"],
        "component_id": planned["component_id"],
        "component_version": planned["component_version"],
        "job_type": planned["job_type"],
        "depends_on": list(planned["depends_on"]),
        "planned": planned,
        "config": planned["config"],
        "env": planned["env"],
        "resources": planned["resources"],
        **fields,
    }
    return ComponentDeployment(deployment=deployment, **values)


def next_attempt_row(row: ComponentDeployment, **fields) -> ComponentDeployment:
    """An unsaved row for the next attempt of `row`'s part (a retry, a wake): the same planned component, config,
    env and resources, attempt + 1; `fields` set the rest."""
    return component_row(
        deployment=row.deployment,
        planned=row.planned,
        key=row.key,
        component_id=row.component_id,
        component_version=row.component_version,
        job_type=row.job_type,
        depends_on=row.depends_on,
        config=row.config,
        env=row.env,
        resources=row.resources,
        attempt=row.attempt + 1,
        **fields,
    )


def reconcile_enqueue(*, deployment_id, delay: float = 0.0) -> None:
    """Ask a worker to reconcile a deployment after the current transaction commits."""
    task = celery_app.signature(RECONCILE_TASK, args=(str(deployment_id),))

    def send() -> None:
        if delay > 0:
            task.apply_async(countdown=delay)
        else:
            task.apply_async()

    transaction.on_commit(send)
