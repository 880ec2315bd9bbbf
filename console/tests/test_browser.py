"""The console in a real browser: Debian's Chromium driven by Playwright, against a live server and a real
Celery worker. Screenshots of every page land in test-artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import os

import pytest

from console.tests.browser import NO_CHROMIUM, SCREENSHOTS, log_in, shot
from deployments.models import UseCaseDeployment
from deployments.tests.factories import make_cluster, seed_system_templates
from usecases.tests.factories import make_usecase

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True), NO_CHROMIUM]


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
    log_in(page, url, deployer, next_path="/usecases")

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
