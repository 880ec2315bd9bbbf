"""Beat tasks: collect metrics every minute, fold and purge old rollups every hour."""

from celery import shared_task
from django.utils import timezone

from observability.collect import metrics_collect, metrics_compact


@shared_task(name="observability.collect_metrics")
def collect_metrics() -> dict:
    result = metrics_collect(now=timezone.now())
    return {"components": result.components, "rows": result.rows, "skipped": result.skipped}


@shared_task(name="observability.compact_metrics")
def compact_metrics() -> dict:
    result = metrics_compact(now=timezone.now())
    return {"hours": result.hours, "folded": result.folded, "purged": result.purged}
