"""Celery tasks of billing: thin, each calls one service."""

from celery import shared_task

from billing.budget_services import budgets_check
from billing.compaction import usage_compact_closed
from billing.invoices import invoices_close_month, invoices_refresh_current
from billing.metering import metering_pass
from billing.services import price_lists_apply_due


@shared_task(name="billing.meter_usage", ignore_result=True)
def meter_usage() -> dict:
    """Beat task: record every minute of job wall time that is over and not yet metered."""
    return metering_pass()


@shared_task(name="billing.close_month", ignore_result=True)
def close_month() -> dict:
    """Beat task: finalise last month's invoices once it is over (a no-op for invoices already final)."""
    return invoices_close_month()


@shared_task(name="billing.refresh_drafts", ignore_result=True)
def refresh_drafts() -> dict:
    """Beat task: this month's drafts follow metering (every 10 minutes)."""
    return invoices_refresh_current()


@shared_task(name="billing.check_budgets", ignore_result=True)
def check_budgets() -> dict:
    """Beat task: record and notify budgets crossing 80% and 100% this month (every 5 minutes)."""
    return budgets_check()


@shared_task(name="billing.compact_usage", ignore_result=True)
def compact_usage() -> dict:
    """Beat task: compact the last closed month's usage to hourly rows once its invoices are final (hourly)."""
    return usage_compact_closed()


@shared_task(name="billing.apply_price_changes", ignore_result=True)
def apply_price_changes() -> dict:
    """Beat task: a price change dated in the future becomes the cluster's current prices when it is due (every
    minute)."""
    return price_lists_apply_due()
