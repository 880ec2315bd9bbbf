"""Beat tasks: collect metrics and evaluate alerts every minute, fold and purge old rollups every hour; deliveries."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from observability.alerts import DELIVER_TASK, alerts_evaluate, deliveries_enqueue
from observability.collect import metrics_collect, metrics_compact
from observability.notify import deliveries_due, delivery_attempt


@shared_task(name="observability.collect_metrics")
def collect_metrics() -> dict:
    """Collect, then evaluate the alert rules on what was collected, then re-send deliveries that are due."""
    now = timezone.now()
    collected = metrics_collect(now=now)
    evaluated = alerts_evaluate(now=now)
    deliveries_enqueue(ids=deliveries_due(now=now - timedelta(seconds=60)))
    return {
        "components": collected.components,
        "rows": collected.rows,
        "skipped": collected.skipped,
        "fired": evaluated.fired,
        "resolved": evaluated.resolved,
    }


@shared_task(name="observability.compact_metrics")
def compact_metrics() -> dict:
    result = metrics_compact(now=timezone.now())
    return {"hours": result.hours, "folded": result.folded, "purged": result.purged}


@shared_task(bind=True, name=DELIVER_TASK, max_retries=None)
def deliver_notification(self, delivery_id: int) -> None:
    """One try; a failed try is retried by the task itself after the back-off."""
    wait = delivery_attempt(delivery_id=delivery_id, now=timezone.now())
    if wait is not None:
        raise self.retry(countdown=wait)
