import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Count
from django.db.models.functions import Trunc

from billing.compaction import _compact, usage_compact_closed, usage_compact_month
from billing.invoices import invoice_checksum, invoices_close_month
from billing.metering import metering_pass
from billing.models import CompactedMonth, DailyCost, Invoice, InvoiceLine, MeteringState, UsageRecord
from billing.services import price_list_create
from billing.sums import Total, exact_aggregate, exact_sums
from billing.tests.test_invoices import APRIL, M0, MARCH, deployment_of, metered_sum
from billing.tests.test_metering import PRICES, ran
from core.exceptions import Conflict
from jobs.models import Job
from jobs.tests.factories import ClusterFactory

pytestmark = pytest.mark.django_db
AMOUNTS = ("gpu_amount", "cpu_amount", "memory_amount")
EACH = {name: Total((name,)) for name in AMOUNTS}


@pytest.fixture
def closed_march(tenant, project, admin_user):
    """March metered and closed: a job across a price change at minute 17 of an hour, a preempted one, a deleted
    deployment's, one running into April; the invoice final."""
    cluster = ClusterFactory(tenant=tenant, name="sim", prices=PRICES)
    kept, gone = deployment_of(project, cluster, "support-bot"), deployment_of(project, cluster, "old-bot")
    across = ran(cluster, project, start=M0 + dt.timedelta(days=6, seconds=13), stop=M0 + dt.timedelta(days=6, hours=3))
    preempted = ran(
        cluster, project, start=M0 + dt.timedelta(days=12, seconds=59), stop=M0 + dt.timedelta(days=12, hours=5), gpus=2
    )
    into_april = ran(
        cluster, project, start=M0 + dt.timedelta(days=30, hours=22, seconds=31), stop=APRIL + dt.timedelta(hours=1)
    )
    Job.objects.filter(pk__in=[across.pk, preempted.pk]).update(usecase_deployment_id=kept.pk)
    Job.objects.filter(pk=preempted.pk).update(status=Job.Status.FAILED, status_message="preempted")
    Job.objects.filter(pk=into_april.pk).update(usecase_deployment_id=gone.pk)
    price_list_create(
        user=admin_user,
        cluster=cluster,
        prices={**PRICES, "cpu_hour": 0.047, "gpu_hour": {"H100-80GB": 4.1}},
        effective_from=M0 + dt.timedelta(days=6, hours=1, minutes=17),
    )
    metering_pass(now=M0 + dt.timedelta(days=20))
    gone.delete()
    invoices_close_month(now=APRIL + dt.timedelta(hours=2))
    return Invoice.objects.get(tenant=tenant, month=MARCH)


def march():
    return UsageRecord.objects.filter(minute__gte=M0, minute__lt=APRIL)


def groups_per_hour() -> int:
    """How many rows the month should compact to: one per job, hour and price list."""
    hours = march().annotate(hour=Trunc("minute", "hour", tzinfo=dt.UTC)).values("job_id", "hour", "price_list_id")
    return hours.annotate(n=Count("id")).count()


def line_sums(records) -> dict:
    """The unrounded amount per (project, deployment, resource), as the invoice lines group the records."""
    sums = {}
    rows = exact_sums(records, ("project_id", "usecase_deployment_id", "gpu_type"), EACH)
    for row in rows:
        key = (row["project_id"], row["usecase_deployment_id"])
        sums[(*key, f"gpu:{row['gpu_type']}")] = row["gpu_amount"]
        sums[(*key, "cpu")] = row["cpu_amount"]
        sums[(*key, "memory")] = row["memory_amount"]
    return {key: value for key, value in sums.items() if value}


def test_compaction_keeps_the_closed_invoice_reconciled_to_the_cent(closed_march, tenant):
    minutes, expected_rows = march().count(), groups_per_hour()
    exact_before, lines_before = exact_aggregate(march(), EACH), line_sums(march())

    state = usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(days=2))

    assert state.rows_before == minutes and state.rows_after == march().count() == expected_rows < minutes / 30
    assert exact_aggregate(march(), EACH) == exact_before
    assert line_sums(march()) == lines_before
    invoice = Invoice.objects.get(pk=closed_march.pk)
    assert invoice.total == closed_march.total == metered_sum(tenant)
    assert invoice.checksum == invoice_checksum(invoice)
    lines = InvoiceLine.objects.filter(invoice=invoice, kind=InvoiceLine.Kind.USAGE)
    by_line = {(line.project_id, line.usecase_deployment_id, line.resource): line.unrounded_amount for line in lines}
    assert by_line == line_sums(march())
    # The hour of the price change keeps one row per price list, each billed at its own price.
    hour = M0 + dt.timedelta(days=6, hours=1)
    split = march().filter(minute__gte=hour, minute__lt=hour + dt.timedelta(hours=1))
    assert sorted(split.values_list("minute", "seconds")) == [
        (M0 + dt.timedelta(days=6, hours=1), Decimal("1020.000000")),
        (M0 + dt.timedelta(days=6, hours=1, minutes=17), Decimal("2580.000000")),
    ]
    days = exact_aggregate(DailyCost.objects.filter(day__gte=M0, day__lt=APRIL), {"total": Total(("amount",))})
    assert days == exact_aggregate(march(), {"total": Total(AMOUNTS)})


def test_a_repeated_or_killed_compaction_writes_the_same_rows(closed_march):
    expected = groups_per_hour()
    totals = exact_aggregate(march(), EACH)
    # Killed after a week of days: those days are compacted, the rest are not.
    CompactedMonth.objects.create(month=MARCH, started_at=APRIL + dt.timedelta(days=2))
    for day in range(7):
        _compact(M0 + dt.timedelta(days=day), M0 + dt.timedelta(days=day + 1))
    usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(days=2))
    rows = sorted(march().values_list("job_id", "minute", "seconds", *AMOUNTS))
    assert len(rows) == expected and exact_aggregate(march(), EACH) == totals

    for day in range(31):  # compacting already compacted days changes nothing
        _compact(M0 + dt.timedelta(days=day), M0 + dt.timedelta(days=day + 1))
    again = usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(days=3))
    assert sorted(march().values_list("job_id", "minute", "seconds", *AMOUNTS)) == rows
    assert again.finished_at is not None and CompactedMonth.objects.count() == 1


def test_metering_writes_nothing_into_a_compacted_month(closed_march):
    usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(days=2))
    compacted = sorted(march().values_list("job_id", "minute", "seconds"))
    april = UsageRecord.objects.filter(minute__gte=APRIL).count()
    # The worst case: a pass that looks at every job again from its first minute (no previous pass recorded).
    MeteringState.objects.update(last_pass_started_at=None)
    metering_pass(now=APRIL + dt.timedelta(days=2))
    assert sorted(march().values_list("job_id", "minute", "seconds")) == compacted
    assert UsageRecord.objects.filter(minute__gte=APRIL).count() == april > 0


def test_compaction_waits_for_final_invoices_and_a_day_after_the_month(closed_march, tenant):
    with pytest.raises(Conflict, match="less than a day"):
        usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(hours=3))
    Invoice.objects.filter(pk=closed_march.pk).update(status=Invoice.Status.DRAFT)
    with pytest.raises(Conflict, match="draft invoices"):
        usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(days=2))
    assert usage_compact_closed(now=APRIL + dt.timedelta(days=2))["compacted"] is False
    Invoice.objects.filter(pk=closed_march.pk).update(status=Invoice.Status.FINAL)
    done = usage_compact_closed(now=APRIL + dt.timedelta(days=2))
    assert done["compacted"] is True and done["month"] == "2026-03-01" and done["after"] == march().count()
    assert not CompactedMonth.objects.filter(finished_at__isnull=True).exists()
