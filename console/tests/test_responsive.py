"""Every console page at a phone's width (390 px) and on a wide screen (1440 px), in Debian's Chromium: the page
itself never scrolls sideways (tables and graphs scroll inside their own box). Screenshots of each page at each
width land in test-artifacts/screenshots/responsive/."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.invoices import invoice_refresh
from console.tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS
from deployments.tests.factories import deploy, make_cluster, seed_system_templates
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, UserFactory
from usecases.tests.factories import make_usecase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]

WIDTHS = (390, 1440)
# The widest element that sticks out of the viewport, for a failure message that says what to fix.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const page = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  let worst = null;
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && (!worst || box.right > worst.right)) {
      let scroller = el.parentElement, inside = false;
      while (scroller) {
        const style = getComputedStyle(scroller);
        if (['auto', 'scroll', 'hidden'].includes(style.overflowX)) { inside = true; break; }
        scroller = scroller.parentElement;
      }
      if (!inside) worst = {tag: el.tagName, cls: el.className.baseVal ?? el.className, right: box.right};
    }
  }
  return {viewport: width, page, worst};
}"""


@pytest.fixture
def console_pages(tenant, project):
    """A user with a running deployment in a tenant with one project and one cluster, and a catalogue entry."""
    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-responsive")
    user = UserFactory(username="rita-responsive", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    deployment = deploy(
        user=user, project=project, cluster=cluster, name="a-rather-long-deployment-name-for-phones", run=True
    )
    make_usecase(unique_id="hc_responsive", name="Patient Summarization With A Long Name", tags=["medical"])
    pk = deployment.pk
    return user, [
        ("home", "/"),
        ("catalog", "/usecases"),
        ("template", "/usecases/enterprise-rag-v1"),
        ("wizard", "/usecases/deploy/enterprise-rag-v1"),
        ("deployments", "/deployments"),
        ("deployment", f"/deployments/{pk}"),
        ("delete", f"/deployments/{pk}/delete"),
        ("update", f"/deployments/{pk}/update"),
        ("scale", f"/deployments/{pk}/scale"),
        ("rollback", f"/deployments/{pk}/rollback"),
        ("components", "/components"),
        ("component", "/components/vllm"),
        ("slo", "/slo"),
        ("slo-detail", "/slo/hc_responsive"),
        ("slo-import", "/slo/import"),
        ("audit", "/audit"),
        ("costs", "/costs"),
        ("budgets", "/budgets"),
        ("invoices", "/invoices"),
        ("invoice", f"/invoices/{invoice_refresh(tenant=tenant, month=dt.date(2026, 3, 1)).pk}"),
        ("price-lists", "/price-lists"),
    ]


def test_no_console_page_scrolls_sideways_at_390_or_1440_px(live_server, console_pages, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user, pages = console_pages
    folder = SCREENSHOTS / "responsive"
    folder.mkdir(parents=True, exist_ok=True)
    overflowing = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.screenshot(path=str(folder / f"{width}-login.png"), full_page=True)
            page.get_by_label("Username").fill(user.username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{live_server.url}/")
            for name, path in pages:
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200, (path, response.status)
                page.wait_for_load_state("networkidle")
                found = page.evaluate(OVERFLOW_JS)
                page.screenshot(path=str(folder / f"{width}-{name}.png"), full_page=True)
                if found["page"] > found["viewport"]:
                    overflowing.append((width, path, found))
            context.close()
        browser.close()
    assert not overflowing, overflowing
