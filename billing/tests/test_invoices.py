import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from billing.invoices import (
    invoice_adjustment_add,
    invoice_checksum,
    invoice_finalise,
    invoice_refresh,
    invoices_close_month,
    round_lines,
)
from billing.metering import metering_pass
from billing.models import Invoice, InvoiceLine, UsageRecord
from billing.services import price_list_create
from billing.sums import Total, exact_aggregate
from billing.tests.test_metering import PRICES, ran
from core.exceptions import Conflict, ValidationError
from deployments.models import UseCaseDeployment
from deployments.tests.factories import seed_system_templates
from jobs.models import Job
from jobs.tests.factories import ClusterFactory
from templates_app.models import UseCaseTemplate

MARCH = dt.date(2026, 3, 1)
M0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
APRIL = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(tenant=tenant, name="sim", prices=PRICES)


def deployment_of(project, cluster, name):
    seed_system_templates()
    template = UseCaseTemplate.objects.filter(tenant__isnull=True).order_by("slug").first()
    return UseCaseDeployment.objects.create(
        tenant=project.tenant,
        project=project,
        cluster=cluster,
        template=template,
        template_version=template.version,
        name=name,
        usecase_id="rag-qa",
    )


def metered_sum(tenant) -> Decimal:
    total = exact_aggregate(
        UsageRecord.objects.filter(tenant=tenant, minute__gte=M0, minute__lt=APRIL),
        {"total": Total(("gpu_amount", "cpu_amount", "memory_amount"))},
    )["total"]
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_round_lines_adds_up_to_the_rounded_sum_and_moves_no_line_a_cent():
    amounts = [Decimal("0.005"), Decimal("0.005"), Decimal("0.005"), Decimal("1.234999")]
    rounded = round_lines(amounts)
    assert sum(rounded) == sum(amounts).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) == Decimal("1.25")
    assert all(abs(r - a) < Decimal("0.01") for r, a in zip(rounded, amounts, strict=True))


@pytest.mark.django_db
def test_a_month_with_a_price_change_a_preemption_and_a_deletion_reconciles_to_the_cent(
    tenant, project, cluster, admin_user
):
    kept = deployment_of(project, cluster, "support-bot")
    gone = deployment_of(project, cluster, "old-bot")
    # Before the month (must not count), across the price change, preempted mid-minute, and a deleted deployment's.
    ran(cluster, project, start=M0 - dt.timedelta(minutes=3, seconds=10), stop=M0 + dt.timedelta(minutes=2, seconds=5))
    Job.objects.filter(
        pk=ran(
            cluster,
            project,
            start=M0 + dt.timedelta(days=3, seconds=13),
            stop=M0 + dt.timedelta(days=9, seconds=41),
            replicas=3,
        ).pk
    ).update(usecase_deployment_id=kept.pk)
    preempted = ran(
        cluster,
        project,
        start=M0 + dt.timedelta(days=12, seconds=59),
        stop=M0 + dt.timedelta(days=12, hours=5, seconds=17),
        gpus=2,
    )
    Job.objects.filter(pk=preempted.pk).update(
        status=Job.Status.FAILED, status_message="preempted", usecase_deployment_id=kept.pk
    )
    Job.objects.filter(
        pk=ran(
            cluster,
            project,
            start=M0 + dt.timedelta(days=20, seconds=31),
            stop=APRIL + dt.timedelta(hours=1, seconds=3),
            gpus=0,
            cpu=3,
        ).pk
    ).update(usecase_deployment_id=gone.pk)
    price_list_create(
        user=admin_user,
        cluster=cluster,
        prices={**PRICES, "cpu_hour": 0.047},
        effective_from=M0 + dt.timedelta(days=6, minutes=17),
    )
    metering_pass(now=M0 + dt.timedelta(days=25))
    draft = invoice_refresh(tenant=tenant, month=MARCH, now=M0 + dt.timedelta(days=25))
    assert draft.status == Invoice.Status.DRAFT and draft.total == metered_sum(tenant)
    # The deleted deployment's usage stays on the invoice under the name it had.
    gone.delete()

    closed = invoices_close_month(now=APRIL + dt.timedelta(hours=2))
    invoice = Invoice.objects.get(tenant=tenant, month=MARCH)
    assert closed["finalised"] == 1 and invoice.status == Invoice.Status.FINAL
    assert invoice.number == "INV-202603-00001" and invoice.checksum == invoice_checksum(invoice)
    assert invoice.total == metered_sum(tenant) > draft.total  # the rest of the month came in before the close
    assert sum(invoice.lines.values_list("amount", flat=True)) == invoice.total
    names = set(invoice.lines.values_list("deployment_name", "template", "resource"))
    assert ("old-bot", kept.template.slug, "cpu") in names
    assert ("support-bot", kept.template.slug, "gpu:H100-80GB") in names
    assert ("", "", "gpu:H100-80GB") in names  # the job of no deployment


@pytest.mark.django_db
def test_a_final_invoice_cannot_change_and_adjustments_say_who_and_why(tenant, project, cluster, admin_user):
    ran(cluster, project, start=M0 + dt.timedelta(seconds=30), stop=M0 + dt.timedelta(hours=2))
    metering_pass(now=M0 + dt.timedelta(days=1))
    draft = invoice_refresh(tenant=tenant, month=MARCH)
    with pytest.raises(ValidationError) as error:
        invoice_adjustment_add(user=admin_user, invoice=draft, amount=Decimal("1.234"), reason=" ")
    assert set(error.value.errors) == {"amount", "reason"}
    with pytest.raises(Conflict):
        invoice_finalise(invoice=draft, now=M0 + dt.timedelta(days=30))  # March is not over
    line = invoice_adjustment_add(user=admin_user, invoice=draft, amount=Decimal("-2.00"), reason="outage credit")
    assert (line.kind, line.created_by, line.reason) == (InvoiceLine.Kind.ADJUSTMENT, admin_user, "outage credit")
    final = invoice_finalise(invoice=draft, now=APRIL)
    assert final.total == final.usage_total - Decimal("2.00") and final.usage_total == metered_sum(tenant)
    sealed = (final.number, final.total, final.checksum)
    with pytest.raises(Conflict):
        invoice_refresh(tenant=tenant, month=MARCH)
    with pytest.raises(Conflict):
        invoice_adjustment_add(user=admin_user, invoice=final, amount=Decimal("1.00"), reason="late")
    assert invoices_close_month(now=APRIL + dt.timedelta(hours=1))["finalised"] == 0
    final.refresh_from_db()
    assert (final.number, final.total, final.checksum) == sealed
    assert invoice_checksum(final) == final.checksum
