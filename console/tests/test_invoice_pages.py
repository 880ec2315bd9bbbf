import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.invoices import invoice_refresh
from billing.metering import metering_pass
from billing.models import Invoice, InvoiceLine, PriceList
from billing.tests.test_invoices import APRIL, M0, MARCH
from billing.tests.test_metering import PRICES, ran
from console.tests.conftest import web_client
from jobs.tests.factories import ClusterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(tenant=tenant, name="priced", prices=PRICES)


@pytest.fixture
def march(tenant, project, cluster, other_tenant, other_project):
    """A March draft of the tenant with an H100 line, and another tenant's draft."""
    ran(cluster, project, start=M0 + dt.timedelta(days=1, seconds=30), stop=M0 + dt.timedelta(days=1, hours=2))
    theirs = ClusterFactory(tenant=other_tenant, name="theirs", prices=PRICES)
    ran(theirs, other_project, start=M0 + dt.timedelta(days=1), stop=M0 + dt.timedelta(days=1, hours=1))
    metering_pass(now=M0 + dt.timedelta(days=3))
    return invoice_refresh(tenant=tenant, month=MARCH), invoice_refresh(tenant=other_tenant, month=MARCH)


def test_members_list_invoices_per_month_and_read_the_lines_not_another_tenants(march, member_user):
    ours, theirs = march
    client = web_client(member_user)
    page = client.get("/invoices", {"month": "2026-03"}).content.decode()
    assert f"/invoices/{ours.pk}" in page and f"/invoices/{theirs.pk}" not in page and "1 invoice" in page
    assert "0 invoices" in client.get("/invoices", {"month": "2026-02"}).content.decode()
    bad = client.get("/invoices", {"month": "March"})
    assert bad.status_code == 400 and 'id="id_month_error"' in bad.content.decode()

    detail = client.get(f"/invoices/{ours.pk}").content.decode()
    line = ours.lines.get(resource="gpu:H100-80GB")
    assert "gpu:H100-80GB" in detail and str(line.amount) in detail and f"${ours.total}" in detail
    assert f"/api/v1/invoices/{ours.pk}/csv" in detail and f"/api/v1/invoices/{ours.pk}/pdf" in detail
    assert "Add a credit" not in detail and "Finalise" not in detail  # members read; admins act
    assert client.get(f"/invoices/{theirs.pk}").status_code == 404
    csv = client.get(f"/api/v1/invoices/{ours.pk}/csv")  # the download link works with the console's session
    assert csv.status_code == 200 and "gpu:H100-80GB" in csv.content.decode()


def test_admins_add_a_credit_with_field_errors_and_members_cannot(march, admin_user, member_user):
    ours, _ = march
    admin = web_client(admin_user)
    assert "Add a credit" in admin.get(f"/invoices/{ours.pk}").content.decode()
    bad = admin.post(f"/invoices/{ours.pk}", {"amount": "1.234", "reason": ""})
    html = bad.content.decode()
    assert bad.status_code == 400 and 'id="id_amount_error"' in html and 'id="id_reason_error"' in html
    zero = admin.post(f"/invoices/{ours.pk}", {"amount": "0", "reason": "nothing"})
    assert zero.status_code == 400 and "A non-zero amount in whole cents." in zero.content.decode()

    done = admin.post(f"/invoices/{ours.pk}", {"amount": "-2.50", "reason": "outage credit"})
    assert done.status_code == 302
    credit = InvoiceLine.objects.get(invoice=ours, kind=InvoiceLine.Kind.ADJUSTMENT)
    assert (credit.amount, credit.reason, credit.created_by) == (Decimal("-2.50"), "outage credit", admin_user)
    ours.refresh_from_db()
    assert ours.total == ours.usage_total - Decimal("2.50")
    assert "outage credit" in admin.get(f"/invoices/{ours.pk}").content.decode()

    refused = web_client(member_user).post(f"/invoices/{ours.pk}", {"amount": "-1.00", "reason": "me too"})
    assert refused.status_code == 403 and InvoiceLine.objects.filter(kind="ADJUSTMENT").count() == 1


def test_admins_finalise_once_the_month_is_over_and_then_nothing_changes(march, admin_user, member_user):
    ours, theirs = march
    admin = web_client(admin_user)
    assert admin.post(f"/invoices/{theirs.pk}/finalise").status_code == 404  # another tenant's: not there
    assert Invoice.objects.get(pk=theirs.pk).status == Invoice.Status.DRAFT
    Invoice.objects.filter(pk=ours.pk).update(month=dt.date(2099, 1, 1))  # a month not over yet
    page = admin.post(f"/invoices/{ours.pk}/finalise", follow=True).content.decode()
    assert "is not over" in page and Invoice.objects.get(pk=ours.pk).status == Invoice.Status.DRAFT
    Invoice.objects.filter(pk=ours.pk).update(month=MARCH)

    web_client(member_user).post(f"/invoices/{ours.pk}/finalise")
    assert Invoice.objects.get(pk=ours.pk).status == Invoice.Status.DRAFT  # members cannot

    assert timezone.now() > APRIL
    page = admin.post(f"/invoices/{ours.pk}/finalise", follow=True).content.decode()
    final = Invoice.objects.get(pk=ours.pk)
    assert final.status == Invoice.Status.FINAL and f"Invoice {final.number} is final." in page
    assert "Add a credit" not in page and "checksum" in page
    late = admin.post(f"/invoices/{ours.pk}", {"amount": "-1.00", "reason": "late"})
    assert late.status_code == 409 and "is final" in late.content.decode()
    assert Invoice.objects.get(pk=ours.pk).checksum == final.checksum


def test_price_lists_read_by_members_and_a_dated_change_by_admins(cluster, admin_user, member_user, other_member_user):
    member = web_client(member_user)
    assert "No price changes recorded" in member.get("/price-lists").content.decode()
    admin = web_client(admin_user)
    assert 'name="effective_from"' in admin.get("/price-lists").content.decode()
    assert 'name="effective_from"' not in member.get("/price-lists").content.decode()

    past = admin.post(
        "/price-lists",
        {"cluster_id": cluster.pk, "effective_from": "2020-01-01T00:00", "prices": json.dumps(PRICES)},
    )
    assert past.status_code == 400 and 'id="id_effective_from_error"' in past.content.decode()
    later = (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    broken = admin.post("/price-lists", {"cluster_id": cluster.pk, "effective_from": later, "prices": "{not json"})
    assert broken.status_code == 400 and 'id="id_prices_error"' in broken.content.decode()
    negative = {**PRICES, "cpu_hour": -1}
    invalid = admin.post(
        "/price-lists", {"cluster_id": cluster.pk, "effective_from": later, "prices": json.dumps(negative)}
    )
    assert invalid.status_code == 400 and "errors" in invalid.content.decode()
    assert not PriceList.objects.exists()

    doubled = {**PRICES, "gpu_hour": {"H100-80GB": 7.2, "A100-80GB": 3.0}}
    done = admin.post(
        "/price-lists", {"cluster_id": cluster.pk, "effective_from": later, "prices": json.dumps(doubled)}
    )
    assert done.status_code == 302
    change = PriceList.objects.get(cluster=cluster, effective_from__gt=timezone.now())
    assert change.prices == doubled and change.created_by == admin_user and change.effective_from.tzinfo is not None
    page = member.get("/price-lists").content.decode()
    assert "upcoming" in page and "the beginning" in page and "7.2" in page
    assert "priced" not in web_client(other_member_user).get("/price-lists").content.decode()
    refused = member.post(
        "/price-lists", {"cluster_id": cluster.pk, "effective_from": later, "prices": json.dumps(PRICES)}
    )
    assert refused.status_code == 400 and 'id="id_cluster_id_error"' in refused.content.decode()
