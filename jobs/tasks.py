"""Celery tasks of the job layer: thin, idempotent, each calls one service."""

from celery import shared_task

from jobs import services


@shared_task(name="jobs.advance_jobs", ignore_result=True)
def advance_jobs() -> dict:
    """Beat task: a scheduling pass over every cluster with unfinished jobs, so jobs progress unwatched."""
    return services.jobs_advance_all()
