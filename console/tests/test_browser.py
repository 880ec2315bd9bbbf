"""The console in a real browser: Debian's Chromium driven by Playwright, against a live server and a real
Celery worker. Screenshots of every page land in test-artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

from conftest import ROOT
from deployments.models import UseCaseDeployment
from deployments.tests.factories import make_cluster, seed_system_templates
from tenancy.tests.factories import UserFactory
from usecases.tests.factories import make_usecase

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pass-123"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium "
        "(CI installs it with .ci/install-browser; `apt-get install chromium` locally)",
    ),
]


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        # ORM calls made while Playwright's loop runs use a connection of their own (asgiref's context-local
        # connections); close it here, or the test database cannot be dropped at the end of the session.
        connections.close_all()
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def deployer(tenant, project):
    from tenancy.models import Membership
    from tenancy.tests.factories import MembershipFactory

    user = UserFactory(username="dana-deployer", is_staff=False)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(user=user, tenant=tenant, role=Membership.Role.MEMBER)
    return user


def test_deploy_simple_rag_through_the_wizard_watch_it_run_then_delete_it(
    celery_worker_process, live_server, browser_page, deployer, tenant, project
):
    from playwright.sync_api import expect

    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-browser", startup=0.5)
    make_usecase(unique_id="hc_browser", name="Patient Summarization", tags=["medical"])
    page = browser_page
    url = live_server.url
    nav = page.get_by_role("navigation", name="Main")

    # log in
    page.goto(f"{url}/usecases")
    expect(page).to_have_url(f"{url}/accounts/login/?next=/usecases")
    shot(page, "01-login")
    page.get_by_label("Username").fill(deployer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # the catalogue, then the template's detail with its graph
    expect(page.get_by_role("heading", name="Use case catalog")).to_be_visible()
    expect(page.get_by_role("link", name="Simple RAG")).to_be_visible()
    shot(page, "02-catalog")
    page.get_by_role("link", name="Simple RAG").click()
    expect(page.locator("figure.dag svg")).to_be_visible()
    shot(page, "03-template-detail")
    page.get_by_role("link", name="Deploy", exact=True).click()

    # the wizard: choose the cluster, give the model, see the preview, confirm
    expect(page.get_by_role("heading", name="Deploy Simple RAG")).to_be_visible()
    page.get_by_label("Cluster").select_option(label=f"{cluster.name} ({tenant.name}, simulated, ACTIVE)")
    page.get_by_label("LLM Model").fill("meta-llama/Llama-3.1-8B-Instruct")
    page.get_by_label("Name").fill("browser-rag")
    expect(page.get_by_test_id("hourly-cost")).to_be_visible()
    expect(page.locator("#preview")).to_contain_text("Wave 2")
    expect(page.locator("#preview")).to_contain_text("fits now")
    shot(page, "04-deploy-wizard")
    page.get_by_role("button", name="Deploy", exact=True).click()

    # the status page updates by itself until RUNNING: a marker set on the page survives, so nothing reloaded
    deployment = UseCaseDeployment.objects.get(name="browser-rag")
    expect(page).to_have_url(f"{url}/deployments/{deployment.pk}")
    page.evaluate("window.__noReload = true")
    shot(page, "05-deployment-deploying")
    expect(page.get_by_test_id("deployment-status")).to_have_text("RUNNING", timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    expect(page.locator("tr[data-key=orchestrator]")).to_contain_text("RUNNING")
    expect(page.locator("#timeline")).to_contain_text("component_submitted")
    expect(page.locator("tr[data-key=llm] button.copy").first).to_be_visible()
    shot(page, "06-deployment-running")

    # scale the LLM from the status page: the plan first, then the rollout reaches revision 2
    page.get_by_role("link", name="Scale…").click()
    page.get_by_label("llm", exact=True).fill("2")
    page.get_by_role("button", name="Show the plan").click()
    expect(page.locator("tr[data-key=llm][data-action=scaled]")).to_be_visible()
    expect(page.get_by_test_id("plan-capacity")).to_contain_text("fits now")
    shot(page, "06b-scale-plan")
    page.get_by_role("button", name="Confirm scale").click()
    expect(page).to_have_url(f"{url}/deployments/{deployment.pk}")
    expect(page.locator("tr[data-revision='2']")).to_contain_text("applied", timeout=60_000)
    expect(page.get_by_test_id("deployment-status")).to_have_text("RUNNING")
    shot(page, "06c-deployment-scaled")

    # the list shows it
    nav.get_by_role("link", name="Deployments").click()
    expect(page.get_by_role("link", name="browser-rag")).to_be_visible()
    shot(page, "07-deployments-list")

    # delete: the confirmation shows the stop order, then the status page follows it to DELETED
    page.get_by_role("link", name="browser-rag").click()
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_test_id("stop-order")).to_contain_text("Step 1: orchestrator")
    shot(page, "08-delete-confirm")
    page.get_by_role("button", name="Delete deployment").click()
    expect(page).to_have_url(f"{url}/deployments/{deployment.pk}")
    page.evaluate("window.__noReload = true")
    expect(page.get_by_test_id("deployment-status")).to_have_text("DELETED", timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    shot(page, "09-deployment-deleted")
    deployment.refresh_from_db()
    assert deployment.status == "DELETED"
    assert set(deployment.components.values_list("status", flat=True)) == {"STOPPED"}

    # the read-only catalogues
    nav.get_by_role("link", name="Components").click()
    expect(page.get_by_role("link", name="Qdrant")).to_be_visible()
    shot(page, "10-components")
    nav.get_by_role("link", name="SLO catalog").click()
    page.get_by_role("link", name="Patient Summarization").click()
    expect(page.get_by_role("heading", name="Service-level objectives")).to_be_visible()
    shot(page, "11-slo-detail")
    assert os.listdir(SCREENSHOTS)
