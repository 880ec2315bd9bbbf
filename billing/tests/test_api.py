import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.invoices import invoice_checksum, invoice_refresh
from billing.metering import metering_pass
from billing.models import Invoice
from billing.months import month_start
from billing.tests.test_metering import PRICES, ran
from core.testing import client_for
from jobs.models import Cluster
from jobs.tests.factories import ClusterFactory
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, ProjectFactory, UserFactory

M0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def invoice(tenant, project):
    cluster = ClusterFactory(tenant=tenant, name="sim", prices=PRICES)
    for day in range(3):
        ran(cluster, project, start=M0 + dt.timedelta(days=day, seconds=30), stop=M0 + dt.timedelta(days=day, hours=1))
    metering_pass(now=M0 + dt.timedelta(days=5))
    return invoice_refresh(tenant=tenant, month=dt.date(2026, 3, 1))


@pytest.mark.django_db
def test_members_list_and_read_their_invoices_and_another_tenant_gets_404(
    invoice, member_client, other_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        listed = member_client.get("/api/v1/invoices?month=2026-03-17&status=DRAFT")
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["results"]] == [str(invoice.pk)]
    with django_assert_max_num_queries(6):
        detail = member_client.get(f"/api/v1/invoices/{invoice.pk}")
    body = detail.json()
    assert body["total"] == str(invoice.total) and len(body["lines"]) == 3
    assert {line["resource"] for line in body["lines"]} == {"gpu:H100-80GB", "cpu", "memory"}
    assert sum(Decimal(line["amount"]) for line in body["lines"]) == Decimal(body["total"])
    assert other_client.get(f"/api/v1/invoices/{invoice.pk}").status_code == 404
    assert other_client.get(f"/api/v1/invoices/{invoice.pk}/csv").status_code == 404
    assert other_client.get("/api/v1/invoices").json()["results"] == []


@pytest.mark.django_db
def test_csv_has_a_row_per_line_and_the_total(invoice, viewer_client):
    response = viewer_client.get(f"/api/v1/invoices/{invoice.pk}/csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 4 and rows[-1]["kind"] == "TOTAL" and Decimal(rows[-1]["amount"]) == invoice.total
    assert sum(Decimal(row["amount"]) for row in rows[:-1]) == invoice.total


@pytest.mark.django_db
def test_adjustments_by_admins_with_field_errors(
    invoice, admin_client, member_client, admin_user, other_project, other_tenant
):
    url = f"/api/v1/invoices/{invoice.pk}/adjustments"
    # Another tenant's admin: the invoice does not exist for them.
    olaf = UserFactory(username="olaf-other-admin")
    MembershipFactory(user=olaf, tenant=other_tenant, role=Membership.Role.ADMIN)
    other_admin = client_for(olaf)
    assert other_admin.post(url, {"amount": "-1.00", "reason": "x"}, format="json").status_code == 404
    assert member_client.post(url, {"amount": "-1.00", "reason": "x"}, format="json").status_code == 403
    bad = admin_client.post(url, {"amount": "abc", "project_id": str(other_project.pk)}, format="json")
    assert bad.status_code == 400
    assert {"amount", "reason", "project_id"} <= set(bad.json()["errors"])
    zero = admin_client.post(url, {"amount": "0", "reason": "nothing"}, format="json")
    assert zero.status_code == 400 and "amount" in zero.json()["errors"]
    made = admin_client.post(url, {"amount": "-1.50", "reason": "goodwill"}, format="json")
    assert made.status_code == 201 and made.json()["created_by"] == admin_user.username
    detail = client_for(admin_user).get(f"/api/v1/invoices/{invoice.pk}").json()
    assert Decimal(detail["total"]) == invoice.total - Decimal("1.50")


def _finalise(client, invoice):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/v1/invoices/{invoice.pk}/finalise")
    return response, len(queries)


@pytest.mark.django_db
def test_admins_finalise_over_the_api_once_and_a_second_time_is_409(
    invoice, tenant, admin_client, member_client, viewer_client, other_client
):
    url = f"/api/v1/invoices/{invoice.pk}/finalise"
    assert viewer_client.post(url).status_code == 403
    assert member_client.post(url).status_code == 403
    assert other_client.post(url).status_code == 404  # another tenant's invoice does not exist for them
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT and invoice.number is None
    # The caller's roles and audit identity are looked up once per client: a first write (a credit) warms them.
    credit = {"amount": "-1.00", "reason": "goodwill"}
    assert admin_client.post(f"/api/v1/invoices/{invoice.pk}/adjustments", credit, format="json").status_code == 201
    response, queries = _finalise(admin_client, invoice)
    assert response.status_code == 200, response.content
    body = response.json()
    invoice.refresh_from_db()
    assert (body["status"], body["number"], body["checksum"]) == ("FINAL", invoice.number, invoice.checksum)
    assert invoice.status == Invoice.Status.FINAL and invoice.checksum == invoice_checksum(invoice)
    assert len(body["lines"]) == 4 and Decimal(body["total"]) == invoice.total == invoice.usage_total - 1
    again = admin_client.post(url)
    assert again.status_code == 409 and "already final" in again.json()["detail"]
    sealed = (invoice.number, invoice.checksum, invoice.finalised_at)
    invoice.refresh_from_db()
    assert (invoice.number, invoice.checksum, invoice.finalised_at) == sealed
    # The queries do not grow with the lines: a month of four projects (12 lines) costs the same as one (4 lines).
    may = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    cluster = Cluster.objects.get(tenant=tenant, name="sim")
    for index in range(4):
        project = ProjectFactory(tenant=tenant, name=f"may-{index}")
        ran(cluster, project, start=may + dt.timedelta(seconds=30), stop=may + dt.timedelta(hours=1))
    metering_pass(now=may + dt.timedelta(days=2))
    larger, larger_queries = _finalise(admin_client, invoice_refresh(tenant=tenant, month=may.date()))
    assert larger.status_code == 200 and len(larger.json()["lines"]) == 12
    assert larger_queries == queries <= 22, (larger_queries, queries)  # 2 of them: the month's lock and re-read


@pytest.mark.django_db
def test_an_invoice_of_a_month_not_over_is_not_finalised(tenant, admin_client):
    current = Invoice.objects.create(tenant=tenant, month=month_start(timezone.now()))
    response = admin_client.post(f"/api/v1/invoices/{current.pk}/finalise")
    assert response.status_code == 409 and "not over" in response.json()["detail"]
    current.refresh_from_db()
    assert (current.status, current.number) == (Invoice.Status.DRAFT, None)
