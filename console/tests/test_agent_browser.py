"""The agent templates' pages in a real browser at phone and desktop widths (screenshots for people to look at)."""

from __future__ import annotations

import pytest

from console.tests.browser import NO_CHROMIUM, log_in, shot
from deployments.tests.factories import seed_system_templates

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NO_CHROMIUM]

PAGES = ["/usecases/research-agent-v1", "/usecases/langgraph-agent-v1", "/usecases/deploy/langgraph-agent-v1"]


def test_agent_pages_fit_390_and_1440_px(live_server, browser_page, deployer):
    from playwright.sync_api import expect

    seed_system_templates()
    page = browser_page
    log_in(page, live_server.url, deployer, next_path="/usecases")
    expect(page.get_by_role("heading", name="Use case catalog")).to_be_visible()
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        for path in PAGES:
            page.goto(f"{live_server.url}{path}")
            if "deploy" in path:
                expect(page.locator("textarea[name='parameters-system_prompt']")).to_be_visible()
            else:
                expect(page.locator("figure.dag svg")).to_be_visible()
            shot(page, f"agent-{path.strip('/').replace('/', '-')}-{width}")
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, width, overflow)
