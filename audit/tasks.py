"""The retention purge, run daily by beat."""

from celery import shared_task

from audit.services import audit_purge


@shared_task(name="audit.purge_expired_events")
def purge_expired_events() -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS."""
    return audit_purge()
