"""Beat task: the autoscaler's pass over every deployment with a policy."""

from celery import shared_task
from django.utils import timezone

from autoscaling.services import autoscale_all


@shared_task(name="autoscaling.autoscale")
def autoscale() -> dict:
    result = autoscale_all(now=timezone.now())
    return {
        "deployments": result.deployments,
        "decisions": result.decisions,
        "standbys_changed": result.standbys_changed,
        "errors": len(result.errors),
    }
