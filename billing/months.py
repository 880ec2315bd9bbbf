"""Calendar months in UTC, the period of invoices and budgets (a leaf: deployments' services import budgets)."""

from __future__ import annotations

from datetime import UTC, date, datetime


def month_start(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end
