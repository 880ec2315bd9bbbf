"""Budgets read: the month's spend, burn rate and forecast of each budget, and the hard cap deployments ask."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.models import Budget, UsageRecord
from billing.months import month_bounds, month_start
from billing.sums import Total, exact_sums
from core.exceptions import Conflict
from tenancy.selectors import scope_to_user

BURN_WINDOW = timedelta(hours=24)
THRESHOLDS = (80, 100)
HOUR = Decimal(3600)


@dataclass(frozen=True)
class BudgetStatus:
    """Where a budget stands this month: spent so far (exact), burn per hour over the last 24 h, forecast."""

    month: datetime
    spent: Decimal
    burn_per_hour: Decimal
    forecast: Decimal
    amount: Decimal

    @property
    def percent(self) -> Decimal:
        return (self.spent * 100 / self.amount).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def forecast_percent(self) -> Decimal:
        return (self.forecast * 100 / self.amount).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def reached(self) -> list[int]:
        return [threshold for threshold in THRESHOLDS if self.spent * 100 >= self.amount * threshold]


def budget_list(*, user) -> QuerySet[Budget]:
    """The budgets of the caller's tenants (every member reads them)."""
    return scope_to_user(Budget.objects.select_related("tenant", "project", "created_by"), user)


def budget_statuses(budgets: list[Budget], *, now: datetime | None = None) -> dict:
    """{budget id: BudgetStatus} for this month, in one query over the usage records whatever the number of budgets.

    The burn rate is the spend of the last 24 hours (or since the month began, when that is shorter) per hour; the
    forecast adds that rate over the hours left in the month.
    """
    now = now or timezone.now()
    start, end = month_bounds(month_start(now))
    window_start = max(start, now - BURN_WINDOW)
    amount = ("gpu_amount", "cpu_amount", "memory_amount")
    records = UsageRecord.objects.filter(
        tenant_id__in={b.tenant_id for b in budgets}, minute__gte=start, minute__lt=now
    )
    totals = {"spent": Total(amount), "recent": Total(amount, since=("minute", window_start))}
    spent: dict = defaultdict(Decimal)
    recent: dict = defaultdict(Decimal)
    for row in exact_sums(records, ("tenant_id", "project_id"), totals) if budgets else ():
        for key in ((row["tenant_id"], None), (row["tenant_id"], row["project_id"])):
            spent[key] += row["spent"] or Decimal(0)
            recent[key] += row["recent"] or Decimal(0)
    window_hours = Decimal((now - window_start) // timedelta(seconds=1)) / HOUR
    hours_left = Decimal((end - now) // timedelta(seconds=1)) / HOUR
    statuses = {}
    for budget in budgets:
        key = (budget.tenant_id, budget.project_id)
        burn = recent[key] / window_hours if window_hours else Decimal(0)
        statuses[budget.pk] = BudgetStatus(
            month=start,
            spent=spent[key],
            burn_per_hour=burn,
            forecast=spent[key] + burn * hours_left,
            amount=budget.amount,
        )
    return statuses


def budget_cap_check(*, tenant_id, project_id, action: str, now: datetime | None = None) -> None:
    """Refuse (409, naming the budget) when a hard-capped budget of the tenant or the project is spent this month."""
    capped = list(
        Budget.objects.filter(Q(project_id=project_id) | Q(project__isnull=True), tenant_id=tenant_id, hard_cap=True)
    )
    if not capped:
        return
    statuses = budget_statuses(capped, now=now)
    for budget in capped:
        status = statuses[budget.pk]
        if status.spent >= budget.amount:
            scope = "the tenant" if budget.project_id is None else "the project"
            raise Conflict(
                f"Budget '{budget.name}' of {scope} is spent: ${status.spent:.2f} of ${budget.amount:.2f} this month, "
                f"and its hard cap refuses {action}. Raise the budget or turn its hard cap off."
            )
