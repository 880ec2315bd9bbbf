"""The daily costs the explorer reads equal the per-minute sums exactly, through repeated and batched passes."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from django.conf import settings

from billing.costs import DIMENSIONS, cost_amounts, cost_report, cost_step_totals
from billing.metering import metering_pass
from billing.models import DailyCost, UsageRecord
from billing.services import price_list_create
from billing.sums import Total, exact_aggregate
from jobs.models import Job
from jobs.tests.factories import ClusterFactory, resources
from tenancy.models import Project

M0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
M1 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
PRICES = {"gpu_hour": {"H100-80GB": 3.7, "A100-80GB": 1.3}, "cpu_hour": 0.031, "memory_gib_hour": 0.0037}
RAISED = {"gpu_hour": {"H100-80GB": 4.1, "A100-80GB": 1.9}, "cpu_hour": 0.029, "memory_gib_hour": 0.0041}


def ran(cluster, project, start, stop, gpu_type="H100-80GB", gpus=1):
    return Job.objects.create(
        name="job",
        job_type=Job.JobType.SERVICE,
        cluster=cluster,
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=gpus, cpu=3, memory_gib=7, gpu_type=gpu_type),
        status=Job.Status.SUCCEEDED,
        started_at=start,
        completed_at=stop,
    )


def per_minute(column: str) -> dict:
    """{(key, day): amount} straight from the usage records, summed in Python."""
    sums: dict = defaultdict(Decimal)
    for record in UsageRecord.objects.values(column, "minute", "gpu_amount", "cpu_amount", "memory_amount"):
        day = record["minute"].replace(hour=0, minute=0, second=0, microsecond=0)
        key = "" if record[column] is None else str(record[column])
        sums[key, day] += record["gpu_amount"] + record["cpu_amount"] + record["memory_amount"]
    return dict(sums)


AMOUNT = Total(("gpu_amount", "cpu_amount", "memory_amount"))


@pytest.fixture
def month_of_usage(tenant, project, admin_user):
    cluster = ClusterFactory(tenant=tenant, name="month", prices=PRICES)
    second = Project.objects.create(tenant=tenant, name="second")
    odd = dt.timedelta(seconds=17, microseconds=250)
    ran(cluster, project, M0 + dt.timedelta(days=2, hours=22) + odd, M0 + dt.timedelta(days=3, hours=3, seconds=41))
    ran(cluster, second, M0 + dt.timedelta(days=9, hours=23, minutes=50), M0 + dt.timedelta(days=10, minutes=20))
    ran(cluster, second, M0 + dt.timedelta(days=14, hours=5) + odd, M0 + dt.timedelta(days=16), gpu_type="A100-80GB")
    ran(cluster, project, M0 + dt.timedelta(days=30, hours=23, minutes=58), M1 + dt.timedelta(minutes=3), gpus=2)
    # The price changes mid-job, mid-day, mid-minute of nothing: the 15th at 11:07.
    price_list_create(
        user=admin_user, cluster=cluster, prices=RAISED, effective_from=M0 + dt.timedelta(days=14, hours=11, minutes=7)
    )
    # Passes through the month (one per few days), small batches, and a repeated pass: nothing may count twice.
    for day in (3, 10, 15, 15, 20, 31):
        metering_pass(now=M0 + dt.timedelta(days=day, hours=1, seconds=5), batch_size=700)
    metering_pass(now=M1 + dt.timedelta(hours=2), batch_size=700)
    metering_pass(now=M1 + dt.timedelta(hours=2), batch_size=700)
    return cluster


@pytest.mark.parametrize("group_by", sorted(DIMENSIONS))
def test_the_month_from_daily_costs_equals_the_per_minute_sum(month_of_usage, admin_user, group_by):
    report = cost_report(user=admin_user, group_by=group_by, start=M0, end=M1, step="day")
    expected = {(key, day): amount for (key, day), amount in per_minute(DIMENSIONS[group_by][0]).items() if day < M1}
    got = {
        (group.key, moment): amount
        for group in report.groups
        for moment, amount in zip(report.buckets, group.amounts, strict=True)
        if amount
    }
    assert got == expected
    assert report.total == sum(expected.values(), Decimal(0))
    # The per-minute path (an end that is not midnight) answers from the records themselves.
    end = M1 - dt.timedelta(minutes=1)
    minutes = cost_report(user=admin_user, group_by=group_by, start=M0, end=end, step="day")
    window = UsageRecord.objects.filter(minute__gte=M0, minute__lt=end)
    assert minutes.total == exact_aggregate(window, {"s": AMOUNT})["s"]


def test_daily_costs_hold_every_record_once(month_of_usage):
    before = list(DailyCost.objects.order_by("pk").values_list("amount", flat=True))
    metering_pass(now=M1 + dt.timedelta(hours=3))
    assert list(DailyCost.objects.order_by("pk").values_list("amount", flat=True)) == before
    assert UsageRecord.objects.filter(price_list__isnull=False).exists()  # the price change really split the month
    if not settings.IS_POSTGRES:  # SQLite keeps 15 significant digits, too few for a day's sum; the explorer
        return  # reads the minutes there (`cost_report`), so only PostgreSQL's daily costs must be exact
    records = exact_aggregate(
        UsageRecord.objects.all(),
        {"amount": AMOUNT, "gpu": Total(("gpu_minutes",)), "cpu": Total(("cpu_core_minutes",))},
    )
    daily = exact_aggregate(
        DailyCost.objects.all(),
        {"amount": Total(("amount",)), "gpu": Total(("gpu_minutes",)), "cpu": Total(("cpu_core_minutes",))},
    )
    assert records == daily


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="daily costs are read on PostgreSQL only (exact numerics)")
def test_narrowed_to_a_project_the_explorer_reads_daily_costs_in_a_few_queries(
    month_of_usage, admin_user, project, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4) as captured:
        cost_report(user=admin_user, group_by="deployment", start=M0, end=M1, step="day", project=project)
    assert any(DailyCost._meta.db_table in query["sql"] for query in captured.captured_queries)
    assert not any(UsageRecord._meta.db_table in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("group_by", sorted(DIMENSIONS))
def test_a_page_of_groups_carries_the_same_steps_as_every_group(month_of_usage, admin_user, group_by):
    every = cost_report(user=admin_user, group_by=group_by, start=M0, end=M1, step="day")
    page = cost_report(user=admin_user, group_by=group_by, start=M0, end=M1, step="day", shown=slice(1, 3))
    assert (page.count, page.total, page.tokens) == (every.count, every.total, every.tokens)
    assert every.count == len(every.groups) and every.total == sum((g.total for g in every.groups), Decimal(0))
    assert all(g.amounts is not None for g in every.groups)
    if settings.IS_POSTGRES:  # the database ranks the groups and answers the page's only
        assert sorted(page.read) == [place for place in (1, 2) if place < every.count]
    shown = page.ranked(slice(1, 3))
    assert [(g.key, g.label, g.total, g.amounts) for g in shown] == [
        (g.key, g.label, g.total, g.amounts) for g in every.groups[1:3]
    ]
    assert cost_step_totals(page) == cost_step_totals(every)
    assert sum(cost_step_totals(every), Decimal(0)) == every.total
    # The other places, read when asked for: the same groups in the same order, their steps loaded on demand.
    assert [(g.key, g.label, g.total, g.gpu_minutes) for g in page.ranked(slice(None))] == [
        (g.key, g.label, g.total, g.gpu_minutes) for g in every.groups
    ]
    cost_amounts(page, page.groups)
    assert [g.amounts for g in page.groups] == [g.amounts for g in every.groups]
