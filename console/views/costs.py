"""The cost explorer page: a month's cost over time by project, deployment, use case or GPU type; chart and table."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from billing.api.cost_serializers import CostQuerySerializer
from billing.costs import RankedGroups, cost_report, cost_step_totals
from console.cost_chart import SERIES, stacked_chart
from core.api.errors import flatten_errors

# The table's groups per page (the API's default page): a month by deployment has ~1,000, and drawing them all was
# most of the page's time (the chart and the totals cover every group; the CSV lists them all).
PAGE_SIZE = 50
GROUPS = [
    ("project", "Project"),
    ("deployment", "Deployment"),
    ("usecase", "Use case"),
    ("gpu_type", "GPU type"),
    ("template", "Template"),
    ("tenant", "Tenant"),
]


def _month_text(day: date) -> str:
    return f"{day:%Y-%m}"


def _page_number(text: str | None) -> int:
    """The table's page asked for, as the paginator reads it (not a whole number: the first)."""
    try:
        return max(1, int(text))
    except (TypeError, ValueError):
        return 1


def _query(params: dict) -> str:
    query = QueryDict(mutable=True)
    query.update(params)
    return query.urlencode()


@login_required
def cost_explorer_page(request):
    """Cost of the caller's usage for a month (any month), stacked by a dimension, with the CSV of the same data."""
    params = {key: request.GET.get(key) for key in ("group_by", "month", "step") if request.GET.get(key)}
    params.setdefault("month", _month_text(timezone.now().date()))
    query = CostQuerySerializer(data=params, context={"request": request})
    report = chart = page = None
    errors = {}
    if query.is_valid():
        number = _page_number(request.GET.get("page"))
        report = cost_report(
            user=request.user,
            **{k: query.validated_data[k] for k in ("group_by", "start", "end", "step")},
            # the chart's largest groups and the table's page, with their steps in the same statement over a month
            shown=(slice(0, SERIES), slice((number - 1) * PAGE_SIZE, number * PAGE_SIZE)),
        )
        chart = stacked_chart(report, cost_step_totals(report))
        # A page past the last (or not a page) is the last, read then: the paginator's rule.
        page = Paginator(RankedGroups(report), PAGE_SIZE).get_page(request.GET.get("page"))
    else:
        errors = flatten_errors(query.errors)
    month = (
        date.fromisoformat(f"{params['month']}-01") if "month" not in errors else timezone.now().date().replace(day=1)
    )
    return render(
        request,
        "console/costs/explorer.html",
        {
            "report": report,
            "chart": chart,
            "page": page,
            "query": _query(params),  # the pages of the table keep the month, grouping and step
            "errors": errors,
            "groups": GROUPS,
            "group_by": params.get("group_by", "project"),
            "step": params.get("step", "day"),
            "month": _month_text(month),
            "previous_month": _month_text((month - timedelta(days=1)).replace(day=1)),
            "next_month": _month_text((month + timedelta(days=32)).replace(day=1)),
            "csv_url": f"{reverse('costs-csv', kwargs={'format': 'csv'})}?{_query(params)}",
        },
    )
