"""The deployment page's metrics in a real browser (Debian's Chromium) at 390 and 1440 px: the latency charts with
their SLO line, the range switch swapping the section in place, the home page's SLO status, the alerts page; no
page scrolls sideways. Screenshots: test-artifacts/screenshots/metrics/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from console.tests.browser import NO_CHROMIUM, browser_user, pages_at_widths
from jobs.models import Job
from observability.collect import floor_minute, metrics_collect
from observability.tests.conftest import running_deployment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NO_CHROMIUM]


def test_deployment_page_shows_the_metrics_charts(
    live_server, admin_user, tenant, project, shipped_usecases, monkeypatch
):
    from playwright.sync_api import expect

    deployment = running_deployment(user=admin_user, project=project, tenant=tenant, name="charted")
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(minutes=90))
    assert metrics_collect(now=floor_minute(timezone.now())).rows
    user = browser_user(tenant, "mia-metrics")
    for _width, page, look in pages_at_widths(monkeypatch, live_server.url, user, "metrics"):
        expect(page.get_by_test_id("slo-status").locator("tr[data-deployment='charted']")).to_be_visible()
        look("home")

        page.goto(f"{live_server.url}/deployments/{deployment.pk}")
        metrics = page.locator("#metrics")
        expect(metrics.get_by_role("heading", name="Metrics")).to_be_visible()
        for key in ("ttft", "itl", "e2e"):
            chart = metrics.locator(f"figure[data-chart='{key}'] svg")
            expect(chart).to_be_visible()
            expect(chart.locator("polyline.series:not(.replicas)")).to_have_count(3)  # p50, p95, p99
            expect(chart.get_by_test_id("replica-line").first).to_be_attached()  # the LLM's replicas, right axis
            expect(chart.get_by_test_id("slo-line")).to_have_count(1)
            expect(chart.locator("text.tick").first).to_be_visible()
        for key in ("requests", "tokens", "gpu", "replicas", "cost"):
            expect(metrics.locator(f"figure[data-chart='{key}'] svg")).to_be_visible()
            # A flat series is a zero-height line, which Playwright calls hidden: attached is what can be asked.
            expect(metrics.locator(f"figure[data-chart='{key}'] polyline.series").first).to_be_attached()
        expect(metrics.get_by_test_id("slo-attainment")).to_contain_text("TTFT")
        box = metrics.locator("figure[data-chart='ttft'] svg").bounding_box()
        assert box["width"] > 300 and box["height"] > 100
        look("deployment-1h")

        page.evaluate("window.__noReload = true")
        metrics.locator("a[data-range='24h']").click()
        expect(page.locator("#metrics[data-range='24h']")).to_be_visible()
        # At 24 h the few minutes of data may be one flat segment (zero height: "hidden" to Playwright): attached.
        expect(page.locator("#metrics figure[data-chart='ttft'] polyline.series").first).to_be_attached()
        assert page.evaluate("window.__noReload") is True  # swapped in place by htmx, not a page load
        look("deployment-24h")

        page.goto(f"{live_server.url}/alerts")
        expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
        look("alerts")
