"""The cost rollups (a row per day or month, tenant and value of each explorer dimension) equal the usage records
through repeated, batched and killed passes, a price change mid-month and the compaction of a closed month; the
explorer reads them, a few rows, in a fixed number of queries, and only the caller's tenants'."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from billing import metering
from billing.compaction import usage_compact_month
from billing.costs import DIMENSIONS, cost_amounts, cost_report, cost_step_totals
from billing.metering import metering_pass
from billing.models import CostRollup, DailyCost, MeteringState, UsageRecord
from billing.rollups import DIMENSION_COLUMNS, SUMS
from billing.tests.test_compaction import closed_march  # noqa: F401
from billing.tests.test_daily_cost import M0, M1, PRICES, per_minute, ran
from billing.tests.test_daily_cost import month_of_usage as month_of_usage  # a fixture, re-exported
from billing.tests.test_invoices import APRIL, MARCH
from jobs.tests.factories import ClusterFactory

pytestmark = pytest.mark.django_db
RECORD_SUMS = ("gpu_minutes", "cpu_core_minutes", "memory_gib_minutes")


def from_records() -> dict:
    """{(dimension, key, period, start, tenant): [amount, GPU-, core-, GiB-minutes]} summed from the usage records in
    Python (exact Decimals on every backend)."""
    sums: dict = defaultdict(lambda: [Decimal(0)] * 4)
    columns = sorted(set(DIMENSION_COLUMNS.values()))
    fields = ("minute", *columns, "gpu_amount", "cpu_amount", "memory_amount", *RECORD_SUMS)
    for row in UsageRecord.objects.values(*fields):
        day = row["minute"].astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        values = [row["gpu_amount"] + row["cpu_amount"] + row["memory_amount"], *(row[name] for name in RECORD_SUMS)]
        for dimension, column in DIMENSION_COLUMNS.items():
            key = "" if row[column] is None else str(row[column])
            for period, start in (("day", day), ("month", day.replace(day=1))):
                group = sums[dimension, key, period, start, row["tenant_id"]]
                for index, value in enumerate(values):
                    group[index] += value
    return dict(sums)


def from_rollups() -> dict:
    rows = CostRollup.objects.values_list("dimension", "key", "period", "start", "tenant_id", *SUMS)
    return {tuple(row[:5]): list(row[5:]) for row in rows}


def assert_rollups_equal_the_records():
    expected, got = from_records(), from_rollups()
    assert set(got) == set(expected)
    if settings.IS_POSTGRES:
        assert got == expected  # exact, digit for digit
    else:  # SQLite keeps a decimal in 15 significant digits (the explorer adds up the minutes there)
        for key, values in expected.items():
            assert all(abs(a - b) < Decimal("1e-9") for a, b in zip(got[key], values, strict=True)), key


def test_rollups_equal_the_records_through_repeated_passes_and_a_price_change(month_of_usage):
    assert UsageRecord.objects.filter(price_list__isnull=False).exists()  # the price change split the month
    assert CostRollup.objects.filter(period="month", start=M1).exists()  # a job ran into April
    assert_rollups_equal_the_records()
    before = from_rollups()
    metering_pass(now=M1 + dt.timedelta(hours=3), batch_size=50)
    assert from_rollups() == before


def test_a_killed_pass_counts_no_minute_twice_in_the_rollups(tenant, project, monkeypatch):
    cluster = ClusterFactory(tenant=tenant, name="killed", prices=PRICES)
    start = M0 + dt.timedelta(days=3, hours=23, minutes=50, seconds=9)
    ran(cluster, project, start, M0 + dt.timedelta(days=4, hours=1))
    real_write, calls = metering._write, []

    def dies_after_the_first_batch(rows):
        if calls:
            raise RuntimeError("worker killed")
        calls.append(len(rows))
        return real_write(rows)

    monkeypatch.setattr(metering, "_write", dies_after_the_first_batch)
    with pytest.raises(RuntimeError):
        metering_pass(now=M0 + dt.timedelta(days=5), batch_size=13)
    assert UsageRecord.objects.count() == 13
    assert_rollups_equal_the_records()  # the committed batch, and only it
    monkeypatch.setattr(metering, "_write", real_write)
    metering_pass(now=M0 + dt.timedelta(days=5), batch_size=13)
    metering_pass(now=M0 + dt.timedelta(days=5))
    assert UsageRecord.objects.count() == 70
    assert_rollups_equal_the_records()


def test_compaction_leaves_the_rollups_equal_to_the_hourly_rows(closed_march):  # noqa: F811
    before = from_rollups()
    minutes = UsageRecord.objects.count()
    usage_compact_month(month=MARCH, now=APRIL + dt.timedelta(days=2))
    assert UsageRecord.objects.count() < minutes
    assert from_rollups() == before
    assert_rollups_equal_the_records()


def test_the_migration_backfills_the_rollups_of_what_was_metered(month_of_usage):
    expected = from_rollups()
    CostRollup.objects.all().delete()
    migration = import_module("billing.migrations.0007_cost_rollup")
    editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    migration.backfill(apps, editor)
    got = from_rollups()
    assert set(got) == set(expected)
    if settings.IS_POSTGRES:
        assert got == expected


WINDOWS = [
    (M0, M1),  # a calendar month: its month rows
    (M0 - dt.timedelta(days=3), M1 + dt.timedelta(days=2)),  # a month and days either side
    (M0 + dt.timedelta(days=9), M0 + dt.timedelta(days=16)),  # days inside a month
]


@pytest.mark.parametrize("window", WINDOWS, ids=["month", "month-and-edges", "days"])
@pytest.mark.parametrize("group_by", sorted(DIMENSIONS))
def test_the_explorer_answers_the_per_minute_sums_from_the_rollups(month_of_usage, admin_user, group_by, window):
    start, end = window
    report = cost_report(user=admin_user, group_by=group_by, start=start, end=end, step="day", shown=slice(0, 2))
    cost_amounts(report, report.ranked(slice(None)))  # the other groups read, then their steps
    expected = {
        (key, day): amount for (key, day), amount in per_minute(DIMENSIONS[group_by][0]).items() if start <= day < end
    }
    got = {
        (group.key, moment): amount
        for group in report.groups
        for moment, amount in zip(report.buckets, group.amounts, strict=True)
        if amount
    }
    assert got == expected
    totals: dict = defaultdict(Decimal)
    for (key, _), amount in expected.items():
        totals[key] += amount
    assert {group.key: group.total for group in report.groups} == totals
    assert sum(cost_step_totals(report), Decimal(0)) == report.total == sum(expected.values(), Decimal(0))


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the rollups are read on PostgreSQL only (exact numerics)")
@pytest.mark.parametrize("group_by", sorted(DIMENSIONS))
def test_a_month_page_reads_rollups_only_in_four_queries(
    month_of_usage, admin_user, group_by, django_assert_max_num_queries
):
    # The totals with their names, the tokens served, the page's steps (when not in the totals' query), all groups'
    # per-day sums for the chart: whatever the number of groups.
    with django_assert_max_num_queries(4) as captured:
        report = cost_report(user=admin_user, group_by=group_by, start=M0, end=M1, step="day", shown=slice(0, 50))
        cost_step_totals(report)
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert CostRollup._meta.db_table in sql
    assert UsageRecord._meta.db_table not in sql and DailyCost._meta.db_table not in sql
    assert report.groups and report.total > 0


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the daily costs are read on PostgreSQL only")
def test_narrowed_to_a_project_the_explorer_reads_its_daily_costs(month_of_usage, admin_user, project):
    report = cost_report(user=admin_user, group_by="deployment", start=M0, end=M1, step="day", project=project)
    records = UsageRecord.objects.filter(project=project, minute__gte=M0, minute__lt=M1)
    assert report.total == sum((r.gpu_amount + r.cpu_amount + r.memory_amount for r in records), Decimal(0)) > 0


def test_the_rollups_answer_only_the_callers_tenants(
    month_of_usage, admin_user, other_tenant, other_project, other_member_user
):
    theirs = ClusterFactory(tenant=other_tenant, name="theirs", prices=PRICES)
    ran(theirs, other_project, M0 + dt.timedelta(days=4), M0 + dt.timedelta(days=4, hours=2), gpu_type="A100-80GB")
    MeteringState.objects.update(last_pass_started_at=None)  # a job the earlier passes never saw
    metering_pass(now=M1 + dt.timedelta(hours=4))
    assert CostRollup.objects.filter(tenant=other_tenant).exists()
    for group_by in ("tenant", "project", "gpu_type"):
        ours = cost_report(user=admin_user, group_by=group_by, start=M0, end=M1, step="day", shown=slice(0, 50))
        them = cost_report(user=other_member_user, group_by=group_by, start=M0, end=M1, step="day", shown=slice(0, 50))
        records = UsageRecord.objects.filter(minute__gte=M0, minute__lt=M1)
        for report, tenant_id in ((ours, admin_user.memberships.get().tenant_id), (them, other_tenant.pk)):
            mine = [r for r in records if r.tenant_id == tenant_id]
            assert report.total == sum((r.gpu_amount + r.cpu_amount + r.memory_amount for r in mine), Decimal(0))
            assert sum(cost_step_totals(report), Decimal(0)) == report.total
        assert {g.key for g in ours.groups}.isdisjoint({g.key for g in them.groups}) or group_by == "gpu_type"
    only_them = cost_report(user=other_member_user, group_by="tenant", start=M0, end=M1, step="day")
    assert [group.key for group in only_them.groups] == [str(other_tenant.pk)]
