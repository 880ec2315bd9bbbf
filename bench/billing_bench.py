"""Benchmark of billing: meter a month of 1,000 deployments (4 jobs each, 4,000 jobs) and close the month.

Jobs are written directly with real start/stop times spread over March 2026 (durations drawn with a fixed seed,
10 to --max-minutes minutes), so the run measures metering and the close, not the simulated driver. Measures: usage
rows written, time of the metering pass, time of a repeated pass (writes nothing), time of the monthly close (a last
pass, rebuilding and finalising the invoice), size on disk of the usage table with its indexes, and the cost explorer's
month query (`billing.costs.cost_report`, by project and by deployment, per day; --explorer-runs each) at p50 / p99.

    python bench/billing_bench.py                  # 1,000 deployments x 4 jobs, database uf_bench_billing
    python bench/billing_bench.py --max-minutes 240
    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20_bench --keep
    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20_bench --reuse  # explorer

    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20_bench --compact

--compact copies the kept database to <name>_compact (dropped first when it exists, kept after) and times the hourly
compaction of March there (`usage_compact_month`): rows and size on disk before and after, and the reconciliation of
the final invoice with the compacted rows. The kept database itself is left per minute.
--reuse skips seeding, metering and the close: it times the explorer on a database kept by an earlier --keep run.
The explorer is timed two ways in the same run, alternating: "now" (each group's steps summed in SQL, one row per
group) and "rows" (the earlier way, a row per group and step turned into Decimals in Python), for the ratio.

The PostgreSQL database is created (dropped first when it exists) and dropped at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.jobs_bench import drop_postgres, recreate_postgres  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/uf_bench_billing"
GROUP_BYS = ("project", "deployment", "gpu_type", "usecase", "template", "tenant")
PAGE = 50  # the API's default page of groups


def explorer_times(args, user, *, start, end) -> dict:
    """{group_by: {way: (p50, p99) ms}}: the explorer's month, the ways alternated run by run so the load falls on all
    alike. "api" is GET /api/v1/costs (totals of every group, the steps of a page of 50), "console" the explorer page
    (the steps of the chart's 6 groups and of all together), "csv" every group's steps; "main" and "rows" are the
    earlier ways (every group's steps as arrays in the totals' query; a row per group and step read into Python).
    Each answer is checked against main's: the same groups, totals and per-step amounts."""
    from billing import costs
    from console.cost_chart import SERIES

    def report(shown, groups=costs._groups):
        costs._groups = groups
        try:
            return costs.cost_report(user=user, group_by=group_by, start=start, end=end, step="day", shown=shown)
        finally:
            costs._groups = real

    def api():
        answer = report(slice(0, PAGE))
        return answer, answer.groups[:PAGE], None

    def console():
        answer = report(slice(0, SERIES))
        return answer, answer.groups[:SERIES], costs.cost_step_totals(answer)

    def everything(groups=None):
        answer = report(None, groups or real)
        return answer, answer.groups, costs.cost_step_totals(answer)

    real = costs._groups
    ways = {
        "api": api,
        "console": console,
        "csv": everything,
        "main": lambda: everything(_groups_by_arrays),
        "rows": lambda: everything(_groups_by_rows),
    }
    results = {}
    for group_by in args.group_by.split(","):
        times: dict = {way: [] for way in ways}
        answers = {}
        for _ in range(args.explorer_runs):
            for way, run in ways.items():
                t0 = time.perf_counter()
                answer, shown, step_totals = run()
                times[way].append((time.perf_counter() - t0) * 1000)
                groups = [(g.key, g.label, g.total, g.amounts, g.cpu_core_minutes, g.tokens) for g in shown]
                answers[way] = (answer.total, len(answer.groups), groups, step_totals)
        main_total, main_count, main_groups, main_steps = answers["main"]
        for way, (total, count, groups, step_totals) in answers.items():
            assert (total, count) == (main_total, main_count), (group_by, way)
            assert groups == main_groups[: len(groups)], f"{group_by}: {way} disagrees with main"
            assert step_totals in (None, main_steps), f"{group_by}: {way}'s totals per step disagree with main"
        results[group_by] = {}
        for way, values in times.items():
            values.sort()
            results[group_by][way] = (values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=1_000)
    parser.add_argument("--jobs-per-deployment", type=int, default=4)
    parser.add_argument("--max-minutes", type=int, default=110)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="time the explorer on a kept database (implies --keep)")
    parser.add_argument("--compact", action="store_true", help="time hourly compaction on a copy")
    parser.add_argument("--explorer-runs", type=int, default=100)
    parser.add_argument("--minute-runs", type=int, default=5, help="runs of the per-minute path, for the ratio")
    parser.add_argument("--group-by", default=",".join(GROUP_BYS), help="the explorer's dimensions to time")
    args = parser.parse_args()
    args.keep = args.keep or args.reuse
    if args.compact:
        compact_copy(args.database_url)
        return
    if not args.reuse:
        recreate_postgres(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import F, Sum

    from billing.costs import cost_report
    from billing.models import UsageRecord

    try:
        if not args.reuse:
            seed_meter_close(args)
        month = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        close_at = dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)
        user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
        explorer = explorer_times(args, user, start=month, end=close_at.replace(hour=0))
        print(
            f"explorer month query from the daily costs, {args.explorer_runs} runs each (ms, p50 / p99), load "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
            + ":\n"
            + "\n".join(
                f"  by {name:10s} " + ", ".join(f"{way} {p50:.1f} / {p99:.1f}" for way, (p50, p99) in ways.items())
                for name, ways in explorer.items()
            )
            + "\n(every way answers what main's did: the same groups, totals and per-day amounts, page or all)"
        )
        # The same month from the per-minute records (an end one minute short of midnight takes that path), a few
        # runs for the ratio; and the two answers must agree exactly where they overlap.
        end = close_at.replace(hour=0)
        short = end - dt.timedelta(minutes=1)
        times = []
        for _ in range(args.minute_runs):
            t0 = time.perf_counter()
            by_minutes = cost_report(user=user, group_by="project", start=month, end=short, step="day")
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        records = UsageRecord.objects.filter(minute__gte=month, minute__lt=end)
        exact = records.aggregate(s=Sum(F("gpu_amount") + F("cpu_amount") + F("memory_amount")))["s"]
        daily = cost_report(user=user, group_by="project", start=month, end=end, step="day").total
        last = records.filter(minute__gte=short).aggregate(
            s=Sum(F("gpu_amount") + F("cpu_amount") + F("memory_amount"))
        )
        assert daily == exact == by_minutes.total + (last["s"] or 0), (daily, exact, by_minutes.total)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_total_relation_size('billing_dailycost'), (SELECT count(*) FROM billing_dailycost)"
            )
            daily_size, daily_rows = cursor.fetchone()
        print(
            f"same month from the per-minute records, by project ({args.minute_runs} runs): median "
            f"{times[len(times) // 2]:.1f} ms; daily costs {daily_rows} rows, {daily_size / 2**20:.1f} MiB; "
            f"month total {daily} equal to the per-minute sum"
        )
    finally:
        connection.close()
        if not args.keep:
            drop_postgres(args.database_url)


def seed_meter_close(args) -> None:
    """Seed the month's jobs, meter them (and again: nothing written), close the month; print what it took."""
    from django.core.management import call_command
    from django.db import connection

    from billing.invoices import invoices_close_month
    from billing.metering import metering_pass
    from billing.models import Invoice, UsageRecord
    from jobs.models import Cluster, Job
    from tenancy.models import Project, Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Bench")
    project = Project.objects.create(tenant=tenant, name="bench")
    cluster = Cluster.objects.create(
        tenant=tenant,
        name="bench",
        inventory={"gpus": {"H100-80GB": 10_000}, "cpu_cores": 100_000, "memory_gib": 1_000_000},
        prices={"gpu_hour": {"H100-80GB": 2.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
    )
    rng = random.Random(1)
    month = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    jobs = []
    for _ in range(args.deployments):
        deployment_id = uuid.uuid4()
        for index in range(args.jobs_per_deployment):
            start = month + dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
            stop = start + dt.timedelta(seconds=rng.uniform(600, args.max_minutes * 60))
            jobs.append(
                Job(
                    name=f"j{index}",
                    job_type="SERVICE",
                    cluster=cluster,
                    tenant=tenant,
                    project=project,
                    usecase_deployment_id=deployment_id,
                    status="SUCCEEDED",
                    started_at=start,
                    completed_at=stop,
                    resources={
                        "gpu_type": "H100-80GB",
                        "gpu_count": index % 2,
                        "cpu": 4,
                        "memory_gib": 16,
                        "replicas": 1,
                    },
                )
            )
    Job.objects.bulk_create(jobs, batch_size=1000)
    close_at = dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)
    t0 = time.perf_counter()
    metering_pass(now=close_at - dt.timedelta(minutes=30))
    pass_seconds = time.perf_counter() - t0
    rows = UsageRecord.objects.count()
    t0 = time.perf_counter()
    metering_pass(now=close_at - dt.timedelta(minutes=30))
    repeat_seconds = time.perf_counter() - t0
    assert UsageRecord.objects.count() == rows
    t0 = time.perf_counter()
    invoices_close_month(now=close_at)
    close_seconds = time.perf_counter() - t0
    invoice = Invoice.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('billing_usagerecord')")
        size = cursor.fetchone()[0]
    print(
        f"jobs {len(jobs)}, usage rows {rows} ({rows / pass_seconds:,.0f} rows/s), "
        f"metering pass {pass_seconds:.2f} s, "
        f"repeated pass {repeat_seconds:.2f} s (0 rows), monthly close {close_seconds:.2f} s, "
        f"usage table + indexes {size / 2**20:.1f} MiB ({size / rows:.0f} B/row), "
        f"invoice {invoice.number} {invoice.lines.count()} lines total {invoice.total}"
    )


def compact_copy(url: str) -> None:
    """Compact March in a copy of the kept database; print rows, time and size on disk before and after."""
    import psycopg

    from bench.jobs_bench import _admin_dsn

    dsn, name = _admin_dsn(url)
    copy = f"{name}_compact"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + copy
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import F, Sum

    from billing.compaction import usage_compact_month
    from billing.models import Invoice, UsageRecord

    call_command("migrate", verbosity=0)  # a database kept by an earlier version of the code

    def size() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('billing_usagerecord')")
            return cursor.fetchone()[0]

    month, april = dt.date(2026, 3, 1), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    records = UsageRecord.objects.filter(minute__lt=april)
    rows, size_before = records.count(), size()
    t0 = time.perf_counter()
    usage_compact_month(month=month, now=april + dt.timedelta(days=2))
    seconds = time.perf_counter() - t0
    after, size_dead = records.count(), size()
    # What the table takes once rewritten (as VACUUM FULL would): its live rows copied into a table with the same
    # indexes. A VACUUM here cannot be relied on: any open transaction on the server keeps the dead rows.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE usage_live (LIKE billing_usagerecord INCLUDING ALL)")
        cursor.execute("INSERT INTO usage_live SELECT * FROM billing_usagerecord")
        cursor.execute("SELECT pg_total_relation_size('usage_live')")
        live = cursor.fetchone()[0]
        cursor.execute("DROP TABLE usage_live")
    invoice = Invoice.objects.get(month=month)
    exact = records.aggregate(s=Sum(F("gpu_amount") + F("cpu_amount") + F("memory_amount")))["s"]
    assert exact.quantize(Decimal("0.01")) == invoice.usage_total, (exact, invoice.usage_total)
    t0 = time.perf_counter()
    usage_compact_month(month=month, now=april + dt.timedelta(days=3))
    repeat = time.perf_counter() - t0
    print(
        f"compaction of March, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}: usage rows {rows} -> {after} "
        f"({rows / after:.1f}x) in {seconds:.2f} s; usage table + indexes {size_before / 2**20:.1f} MiB before, "
        f"{size_dead / 2**20:.1f} MiB right after (dead rows until a vacuum), {live / 2**20:.2f} MiB rewritten "
        f"({live / after:.0f} B/row); invoice {invoice.number} usage {invoice.usage_total} = compacted sum {exact}; "
        f"repeated compaction {repeat:.3f} s"
    )
    connection.close()


def _groups_by_arrays(source, *, group_by, shown=None):
    """main's way before the steps were loaded apart (for the ratio): every group's steps summed per group in the
    totals' query, as two arrays."""
    from django.db import connection

    from billing.costs import NAMES, STEPS, CostGroup, _key, _per_step

    column, buckets = source.column, source.buckets
    first = int(buckets[0].timestamp()) if buckets else 0
    sql, params = _per_step(source).order_by().query.sql_with_params()
    names = NAMES.get(group_by)
    name, join = ("NULL", "") if names is None else ("names.name", f"LEFT JOIN {names} AS names ON names.id = g.key")
    groups: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT g.*, {name} FROM (
                SELECT {column} AS key, SUM(amount), SUM(gpu), SUM(cpu), SUM(memory),
                    ARRAY_AGG((bucket - %s) / %s), ARRAY_AGG(amount)
                FROM ({sql}) AS per_step GROUP BY {column}
            ) AS g {join}""",
            (first, int(STEPS[source.step].total_seconds()), *params),
        )
        for value, total, gpu, cpu, memory, steps, step_amounts, label in cursor.fetchall():
            amounts = [Decimal(0)] * len(buckets)
            for step, amount in zip(steps, step_amounts, strict=True):
                amounts[step] = amount
            key = _key(value)
            groups[key] = CostGroup(key=key, label=label or "", total=total, amounts=amounts)
            groups[key].gpu_minutes, groups[key].cpu_core_minutes, groups[key].memory_gib_minutes = gpu, cpu, memory
    return groups


def _groups_by_rows(source, *, group_by, shown=None):
    """The explorer's earlier way, for the ratio: every row of sums per group and step read and added up in Python."""
    from billing.costs import LABELLED, CostGroup, _key, _per_step

    per_step, column, buckets = _per_step(source), source.column, source.buckets
    # The earlier labels: a query of the names by id (a parameter per group).
    model = LABELLED.get(group_by)

    index = {int(moment.timestamp()): i for i, moment in enumerate(buckets)}
    groups: dict = {}
    for row in per_step.order_by():
        key = _key(row[column])
        group = groups.get(key)
        if group is None:
            group = groups[key] = CostGroup(key=key, amounts=[Decimal(0)] * len(buckets))
        group.amounts[index[row["bucket"]]] += row["amount"]
        group.total += row["amount"]
        group.gpu_minutes += row["gpu"]
        group.cpu_core_minutes += row["cpu"]
        group.memory_gib_minutes += row["memory"]
    if model is not None:
        found = model.objects.filter(pk__in=[key for key in groups if key]).values_list("pk", "name")
        names = {str(pk): name for pk, name in found}
        for key, group in groups.items():
            group.label = names.get(key, "")
    return groups


if __name__ == "__main__":
    main()
