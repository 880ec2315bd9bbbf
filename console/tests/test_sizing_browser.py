"""Sizing in a real browser (Debian's Chromium) at 390 and 1440 px: the SLO page's sizing table, and the wizard
sizing simple-rag-v1 for a shipped real-time use case, its preview showing the candidates and the chart. Neither
page scrolls sideways. Screenshots: test-artifacts/screenshots/sizing/."""

from __future__ import annotations

import pytest

from console.tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS
from console.tests.test_responsive import OVERFLOW_JS
from deployments.tests.factories import make_cluster, seed_system_templates
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]


def test_sizing_pages_at_390_and_1440_px(live_server, tenant, project, shipped_usecases, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    seed_system_templates()
    make_cluster(tenant=tenant, name="sim-sizing")
    user = UserFactory(username="sara-sizing")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(user=user, tenant=tenant, role=Membership.Role.MEMBER)
    folder = SCREENSHOTS / "sizing"
    folder.mkdir(parents=True, exist_ok=True)
    overflowing = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for width in (390, 1440):
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill(user.username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{live_server.url}/")

            page.goto(f"{live_server.url}/slo/ambient_scribe?users=20")
            expect(page.get_by_role("heading", name="Sizing for common models")).to_be_visible()
            expect(page.locator(".sizing-table tbody tr")).to_have_count(4)
            _check(page, width, "slo-detail", folder, overflowing)

            page.get_by_role("link", name="Simple RAG").click()
            expect(page.get_by_label("Use case")).to_have_value("ambient_scribe")
            page.get_by_label("Expected concurrent users").fill("20")
            page.locator("[name='parameters-model_id']").fill("meta-llama/Llama-3.1-8B-Instruct")
            page.locator("[name='parameters-model_id']").dispatch_event("change")
            expect(page.locator("#preview .sizing-table")).to_be_visible()
            expect(page.locator("#preview .sizing-chart svg circle.chosen")).to_have_count(1)
            expect(page.locator("#preview")).to_contain_text("meets every SLO")
            _check(page, width, "wizard-preview", folder, overflowing)
            context.close()
        browser.close()
    assert not overflowing, overflowing


def _check(page, width: int, name: str, folder, overflowing: list) -> None:
    page.wait_for_load_state("networkidle")
    found = page.evaluate(OVERFLOW_JS)
    page.screenshot(path=str(folder / f"{width}-{name}.png"), full_page=True)
    if found["page"] > found["viewport"]:
        overflowing.append((width, name, found))
