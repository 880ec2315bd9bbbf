"""The queue forms in Debian's Chromium, on a phone (390 px) and a wide screen (1440 px): an admin adds a queue with
a quota per GPU type, edits it, and no quota page scrolls sideways."""

from __future__ import annotations

import pytest

from console.tests.browser import NO_CHROMIUM, browser_user, pages_at_widths
from jobs.models import ClusterQueue
from jobs.tests.factories import ClusterFactory
from tenancy.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NO_CHROMIUM]

H100 = "H100-80GB"


def test_an_admin_adds_and_edits_a_queue_from_a_phone_and_a_wide_screen(live_server, tenant, monkeypatch):
    ClusterFactory(
        tenant=tenant,
        name="gpu-cluster-with-a-long-name",
        inventory={"gpus": {H100: 16, "A100-80GB": 8, "L4": 8}, "cpu_cores": 64, "memory_gib": 512},
    )
    user = browser_user(tenant, "quinn-quota-admin", Membership.Role.ADMIN)
    for width, page, look in pages_at_widths(
        monkeypatch, live_server.url, user, "quotas", next_path="/quotas", timeout_ms=30_000
    ):
        look("list")
        name = f"team-{width}"
        form = page.get_by_test_id("queue-form")
        form.locator("#id_name").fill(name)
        form.locator("#id_cohort").fill("lab")
        # The H100 row's three boxes: nominal 4, borrow up to 2 more, lend at most 1.
        row = form.get_by_role("group", name=f"{H100} GPUs")
        row.get_by_label("Nominal").fill("4")
        row.get_by_label("Borrowing limit").fill("2")
        row.get_by_label("Lending limit").fill("9")
        form.get_by_role("button", name="Add queue").click()
        # Lending more than the quota: the service's error beside the box, the rest kept.
        page.wait_for_selector(f"#id_lending__gpu__{H100}_error")
        assert "Cannot lend more than the nominal quota." in page.inner_text(f"#id_lending__gpu__{H100}_error")
        look("list-errors")
        form = page.get_by_test_id("queue-form")
        assert form.locator("#id_name").input_value() == name
        form.get_by_role("group", name=f"{H100} GPUs").get_by_label("Lending limit").fill("1")
        form.get_by_role("button", name="Add queue").click()
        page.wait_for_selector("h2#line-h")
        queue = ClusterQueue.objects.get(name=name)
        assert queue.nominal_quota["gpus"] == {H100: 4}
        assert (queue.borrowing_limit["gpus"], queue.lending_limit["gpus"]) == ({H100: 2}, {H100: 1})
        look("queue")
        page.get_by_role("link", name="Edit quota, cohort and limits").click()
        page.wait_for_selector('[data-testid="queue-form"]')
        look("edit")
        page.get_by_role("group", name="L4 GPUs").get_by_label("Nominal").fill("2")
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("h2#line-h")
        queue.refresh_from_db()
        assert queue.nominal_quota["gpus"] == {H100: 4, "L4": 2}
