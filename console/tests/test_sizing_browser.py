"""Sizing in a real browser (Debian's Chromium) at 390 and 1440 px: the SLO page's sizing table, and the wizard
sizing simple-rag-v1 for a shipped real-time use case, its preview showing the candidates and the chart. Neither
page scrolls sideways. Screenshots: test-artifacts/screenshots/sizing/."""

from __future__ import annotations

import pytest

from console.tests.browser import NO_CHROMIUM, browser_user, pages_at_widths
from deployments.tests.factories import make_cluster, seed_system_templates

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NO_CHROMIUM]


def test_sizing_pages_at_390_and_1440_px(live_server, tenant, project, shipped_usecases, monkeypatch):
    from playwright.sync_api import expect

    seed_system_templates()
    make_cluster(tenant=tenant, name="sim-sizing")
    user = browser_user(tenant, "sara-sizing")
    for _width, page, look in pages_at_widths(monkeypatch, live_server.url, user, "sizing"):
        page.goto(f"{live_server.url}/slo/ambient_scribe?users=20")
        expect(page.get_by_role("heading", name="Sizing for common models")).to_be_visible()
        expect(page.locator(".sizing-table tbody tr")).to_have_count(4)
        look("slo-detail")

        page.get_by_role("link", name="Simple RAG").click()
        expect(page.get_by_label("Use case")).to_have_value("ambient_scribe")
        page.get_by_label("Expected concurrent users").fill("20")
        page.locator("[name='parameters-model_id']").fill("meta-llama/Llama-3.1-8B-Instruct")
        page.locator("[name='parameters-model_id']").dispatch_event("change")
        expect(page.locator("#preview .sizing-table")).to_be_visible()
        expect(page.locator("#preview .sizing-chart svg circle.chosen")).to_have_count(1)
        expect(page.locator("#preview")).to_contain_text("meets every SLO")
        look("wizard-preview")
