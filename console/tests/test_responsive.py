"""Every console page at a phone's width (390 px) and on a wide screen (1440 px), in Debian's Chromium: the page
itself never scrolls sideways (tables and graphs scroll inside their own box). Screenshots of each page at each
width land in test-artifacts/screenshots/responsive/."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.invoices import invoice_refresh
from console.tests.browser import NO_CHROMIUM, SCREENSHOTS, browser_user, check_overflow, chromium, log_in
from deployments.tests.factories import deploy, make_cluster, seed_system_templates
from tenancy.models import Membership
from usecases.tests.factories import make_usecase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NO_CHROMIUM]

WIDTHS = (390, 1440)


@pytest.fixture
def console_pages(tenant, project):
    """A user with a running deployment in a tenant with one project and one cluster, and a catalogue entry."""
    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-responsive")
    user = browser_user(tenant, "rita-responsive", Membership.Role.ADMIN, is_staff=True)
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
        ("autoscaling", f"/deployments/{pk}/autoscaling"),
        ("keys", f"/deployments/{pk}/keys"),
        ("alert-rules", f"/deployments/{pk}/alert-rules"),
        ("alerts", "/alerts"),
        ("channels", "/channels"),
        ("quotas", "/quotas"),
        ("warm-pools", "/warm-pools"),
    ]


def test_no_console_page_scrolls_sideways_at_390_or_1440_px(live_server, console_pages, monkeypatch):
    user, pages = console_pages
    folder = SCREENSHOTS / "responsive"
    folder.mkdir(parents=True, exist_ok=True)
    overflowing = []
    with chromium(monkeypatch) as browser:
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.screenshot(path=str(folder / f"{width}-login.png"), full_page=True)
            log_in(page, live_server.url, user)
            for name, path in pages:
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200, (path, response.status)
                check_overflow(page, folder, width, name, overflowing)
            context.close()
    assert not overflowing, overflowing
