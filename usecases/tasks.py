from celery import shared_task

from usecases import services


@shared_task(acks_late=True)
def purge_expired_usecase_cache() -> int:
    """Delete expired UseCaseCache rows (reads already ignore them; this keeps the table small)."""
    return services.usecase_cache_purge_expired()
