"""Celery tasks for deployments: thin, idempotent, each calls one service."""

from celery import shared_task

from deployments import reconciler, services


@shared_task(name="deployments.reconcile_deployment", acks_late=True, reject_on_worker_lost=True)
def reconcile_deployment(deployment_id: str) -> dict:
    """One reconcile pass; it schedules its own next pass when something is still expected to change."""
    outcome = reconciler.deployment_reconcile(deployment_id=deployment_id)
    return {"status": outcome.status, "skipped": outcome.skipped, "next_delay": outcome.next_delay}


@shared_task(name="deployments.requeue_stale_deployments")
def requeue_stale_deployments() -> int:
    """Beat sweep: re-queue active deployments whose reconcile is overdue (lost task, killed worker)."""
    return services.deployments_requeue_stale()
