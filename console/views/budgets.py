"""The budgets page: each budget's spend and forecast this month against its amount, as a bar drawn server-side."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from billing.budgets import budget_list, budget_statuses

BAR_WIDTH = 600


@dataclass(frozen=True)
class BudgetBar:
    """Where the spent bar ends, the forecast mark and the budget line fall on a 0..BAR_WIDTH scale."""

    spent_x: float
    forecast_x: float
    budget_x: float
    tone: str  # ok under 80% spent, warn from 80%, bad from 100%
    forecast_over: bool


def budget_bar(*, spent: Decimal, forecast: Decimal, amount: Decimal) -> BudgetBar:
    scale_max = max(amount, spent, forecast) * Decimal("1.05")

    def position(value: Decimal) -> float:
        return round(float(value / scale_max) * BAR_WIDTH, 1)

    tone = "bad" if spent >= amount else "warn" if spent * 100 >= amount * 80 else "ok"
    return BudgetBar(position(spent), position(forecast), position(amount), tone, forecast > amount)


@login_required
def budget_list_page(request):
    """This month's budgets of the caller's tenants: spent, forecast at the burn rate, the alerts fired."""
    budgets = list(budget_list(user=request.user).prefetch_related("alerts"))
    statuses = budget_statuses(budgets, now=timezone.now())
    rows = [
        {
            "budget": budget,
            "status": statuses[budget.pk],
            "bar": budget_bar(
                spent=statuses[budget.pk].spent, forecast=statuses[budget.pk].forecast, amount=budget.amount
            ),
        }
        for budget in budgets
    ]
    return render(request, "console/costs/budgets.html", {"rows": rows, "bar_width": BAR_WIDTH})
