"""Celery tasks of billing: thin, each calls one service."""

from celery import shared_task

from billing.metering import metering_pass


@shared_task(name="billing.meter_usage", ignore_result=True)
def meter_usage() -> dict:
    """Beat task: record every minute of job wall time that is over and not yet metered."""
    return metering_pass()
