import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine

from billing.budget_services import budget_create
from billing.metering import metering_pass
from billing.tests.test_costs import amount_of, usage  # noqa: F401  (March 2026 of usage in two tenants)
from billing.tests.test_metering import PRICES, ran
from console.charts import nice_ticks
from console.tests.conftest import web_client
from jobs.tests.factories import ClusterFactory

pytestmark = pytest.mark.django_db


def test_cost_explorer_draws_a_stacked_chart_and_a_table_of_the_month(usage, member_user, tenant):  # noqa: F811
    page = web_client(member_user).get("/costs", {"month": "2026-03", "group_by": "project"})
    assert page.status_code == 200
    html = page.content.decode()
    total = amount_of(tenant=tenant)
    assert f"${total:.2f}" in html
    assert "project-a" in html and "project-c" in html and "project-b" not in html  # another tenant's project
    bars = re.findall(r'<rect class="series-(\d)"[^>]*height="([\d.]+)"', html)
    assert {series for series, _ in bars} == {"0", "1"} and all(float(h) > 0 for _, h in bars)
    assert "/api/v1/costs.csv?" in html and "month=2026-03" in html
    assert "2026-02" in html and "2026-04" in html  # the neighbouring months are a click away


def test_cost_explorer_by_use_case_shows_cost_per_million_tokens_and_empty_months(usage, member_user):  # noqa: F811
    client = web_client(member_user)
    html = client.get("/costs", {"month": "2026-03", "group_by": "usecase"}).content.decode()
    assert "ambient_scribe" in html and "per million tokens served" in html
    empty = client.get("/costs", {"month": "2025-01"}).content.decode()
    assert "No usage metered in 2025-01" in empty and "<svg" not in empty
    bad = client.get("/costs", {"month": "2026-3x", "group_by": "colour"})
    assert bad.status_code == 200 and "group_by:" in bad.content.decode() and "month:" in bad.content.decode()


def test_nice_ticks_cover_the_highest_bar_in_round_steps():
    assert nice_ticks(0.37) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert nice_ticks(940.0) == [0, 200, 400, 600, 800, 1000]
    assert nice_ticks(0) == [0.0, 1.0]
    assert Decimal(str(nice_ticks(12.0)[-1])) >= 12


def test_budgets_page_shows_spent_and_forecast_against_the_budget(
    admin_user, member_user, tenant, project, other_tenant
):
    now = dt.datetime(2026, 3, 11, tzinfo=dt.UTC)
    cluster = ClusterFactory(tenant=tenant, name="priced", prices=PRICES)
    ran(cluster, project, start=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    metering_pass(now=now + dt.timedelta(minutes=1))
    budget_create(  # an admin sets it; the member reads it
        user=admin_user, tenant=tenant, project=project, name="team-rag", amount=Decimal("1000"), hard_cap=True
    )
    with time_machine.travel(now, tick=False):
        html = web_client(member_user).get("/budgets").content.decode()
    assert "team-rag" in html and "hard cap" in html
    assert "$884.74</strong> of $1000.00 spent (88.5%)" in html
    assert "forecast <strong>$2742.68</strong>" in html and "forecast over budget" in html
    spent, forecast = (
        float(x) for x in re.findall(r'class="(?:spent warn|forecast)" x="0" y="6" width="([\d.]+)"', html)[::-1]
    )
    assert 0 < spent < forecast


def test_cost_explorer_pages_its_table_and_keeps_the_chart_and_total_of_every_group(
    usage,  # noqa: F811
    member_user,
    tenant,
    monkeypatch,
):
    from console.views import costs

    monkeypatch.setattr(costs, "PAGE_SIZE", 1)
    client = web_client(member_user)
    first = client.get("/costs", {"month": "2026-03", "group_by": "project"}).content.decode()
    second = client.get("/costs", {"month": "2026-03", "group_by": "project", "page": 2}).content.decode()
    rows = [re.findall(r'<tr><th scope="row">([^<]+)</th>', html) for html in (first, second)]
    assert len(rows[0]) == len(rows[1]) == 1 and {rows[0][0], rows[1][0]} == {"project-a", "project-c"}
    assert "Page 1 of 2" in first and "page=2" in first and "group_by=project" in first
    for html in (first, second):  # the total and the chart are every group's on every page
        assert f"${amount_of(tenant=tenant):.2f}" in html
        assert {series for series in re.findall(r'<rect class="series-(\d)"', html)} == {"0", "1"}
