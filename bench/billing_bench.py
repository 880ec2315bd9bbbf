"""Benchmark of billing: meter a month of 1,000 deployments (4 jobs each, 4,000 jobs) and close the month.

Jobs are written directly with real start/stop times spread over March 2026 (durations drawn with a fixed seed,
10 to --max-minutes minutes), so the run measures metering and the close, not the simulated driver. Measures: usage
rows written, time of the metering pass, time of a repeated pass (writes nothing), time of the monthly close (a last
pass, rebuilding and finalising the invoice), size on disk of the usage table with its indexes, and the cost explorer's
month as served (GET /api/v1/costs, its CSV and the console's explorer page, by each dimension, per day;
--explorer-runs each) at p50 / p99 wall and the median CPU time of this process.

    python bench/billing_bench.py                  # 1,000 deployments x 4 jobs, database uf_bench_billing
    python bench/billing_bench.py --max-minutes 240
    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20_bench --keep
    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20_bench --reuse  # explorer

    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20_bench --compact
    python bench/billing_bench.py --database-url postgres://postgres@127.0.0.1:5432/ucf_20c_bench --reuse --tokens 7

--tokens seeds the served tokens the explorer counts (its cost per million tokens) before timing (`seed_tokens`).

--compact copies the kept database to <name>_compact (dropped first when it exists, kept after) and times the hourly
compaction of March there (`usage_compact_month`): rows and size on disk before and after, and the reconciliation of
the final invoice with the compacted rows. The kept database itself is left per minute.
--reuse skips seeding, metering and the close: it migrates a database kept by an earlier --keep run (a new table is
backfilled there) and times the explorer. Each request is timed twice in the same run, alternating: "now" (this
tree's code) and "before" (the explorer's modules of git's `main`, or of $BENCH_BEFORE, answering the same routes), and
the two answers must be the same bytes.

The PostgreSQL database is created (dropped first when it exists) and dropped at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
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


# The modules of the explorer's answers (in import order): "before" is these modules of $BENCH_BEFORE (or main).
EXPLORER_MODULES = (
    "billing.cost_sources",
    "billing.cost_ranks",
    "billing.cost_groups",
    "billing.costs",
    "billing.cost_csv",
    "billing.api.cost_serializers",
    "billing.api.cost_views",
    "console.cost_chart",
    "console.views.costs",
)


def _before_modules() -> dict | None:
    """The explorer's modules as they are at $BENCH_BEFORE (default main), read from git and imported beside this
    tree's (each under its real name while the next ones import, so they import one another's old versions, then
    put back), so both are timed in the same process on the same data; None when git has no such commit. A module
    the commit did not have is left out (the old ones never import it)."""
    import subprocess
    import tempfile
    import types

    commit = os.environ.get("BENCH_BEFORE", "main")
    folder = Path(tempfile.mkdtemp())
    saved = {name: sys.modules.get(name) for name in EXPLORER_MODULES}
    modules = {}
    try:
        for name in EXPLORER_MODULES:
            path = name.replace(".", "/") + ".py"
            shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], capture_output=True, text=True)
            if shown.returncode != 0:
                if name == "billing.costs":
                    return None
                continue
            copy = folder / path.replace("/", "_")
            copy.write_text(shown.stdout)
            module = types.ModuleType(name)
            module.__file__ = str(copy)
            sys.modules[name] = module  # while the next ones import it (and dataclasses look it up)
            exec(compile(shown.stdout, str(copy), "exec"), module.__dict__)
            modules[name] = module
    except OSError:
        return None
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return modules


def _explorer_routes(cost_view, explorer_page) -> list:
    """The URL patterns answering the explorer (the API's two and the console page), to point at either code."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                callback = pattern.callback
                if getattr(callback, "view_class", None) is cost_view or callback is explorer_page:
                    found.append(pattern)

    walk(get_resolver().url_patterns)
    return found


CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"|"X-CSRFToken": "[^"]*"')


def explorer_times(args, user, *, month: str) -> dict:
    """{group_by: {way: (p50, p99, cpu p50) ms}}: the explorer's month as served, through Django's test client in this
    process: "api" GET /api/v1/costs (a page of 50 groups; "api p3" its third page), "console" the explorer page (the
    table's first page of 50 groups' totals, the chart's 6 groups' steps; "console p3" the table's third page), "csv"
    GET /api/v1/costs.csv (every group's steps). Each way runs with the code of this tree ("now") and with the
    explorer's modules of $BENCH_BEFORE (or main) answering the same routes ("before"), alternated run by run; the
    two answers must be the same bytes (the console page's CSRF token aside)."""
    from django.test import Client

    from billing.api import cost_views
    from console.views import costs as console_costs

    before = _before_modules()
    client = Client()
    client.force_login(user)
    routes = _explorer_routes(cost_views.CostView, console_costs.cost_explorer_page)
    assert len(routes) == 3, routes
    callbacks = {"now": {pattern: pattern.callback for pattern in routes}}
    if before is not None:
        old_api = before["billing.api.cost_views"].CostView.as_view()
        old_page = before["console.views.costs"].cost_explorer_page
        callbacks["before"] = {
            pattern: old_api if getattr(pattern.callback, "view_class", None) else old_page for pattern in routes
        }

    def use(code):
        for pattern in routes:
            pattern.callback = callbacks[code or "now"][pattern]

    urls = {
        "api": lambda group_by: f"/api/v1/costs?group_by={group_by}&month={month}&step=day",
        "api p3": lambda group_by: f"/api/v1/costs?group_by={group_by}&month={month}&step=day&offset=100",
        "console": lambda group_by: f"/costs/?group_by={group_by}&month={month}&step=day",
        "console p3": lambda group_by: f"/costs/?group_by={group_by}&month={month}&step=day&page=3",
        "csv": lambda group_by: f"/api/v1/costs.csv?group_by={group_by}&month={month}&step=day",
    }
    codes = list(callbacks)
    results = {}
    for group_by in args.group_by.split(","):
        times = {(way, code): [] for way in urls for code in codes}
        cpu = {key: [] for key in times}
        for _ in range(args.explorer_runs):
            bodies = {}
            for way, url in urls.items():
                for code in codes:
                    use(code)
                    try:
                        c0, t0 = time.process_time(), time.perf_counter()
                        response = client.get(url(group_by))
                        times[way, code].append((time.perf_counter() - t0) * 1000)
                        cpu[way, code].append((time.process_time() - c0) * 1000)
                    finally:
                        use(None)
                    assert response.status_code == 200, (way, code, response.status_code)
                    bodies[code] = CSRF.sub(b"", response.content)
                if len(set(bodies.values())) != 1:
                    import difflib

                    a, b = (body.decode().splitlines() for body in bodies.values())
                    print("\n".join(list(difflib.unified_diff(a, b, lineterm=""))[:40]))
                    raise AssertionError(f"{group_by} {way}: now and before answer differently")
        results[group_by] = {}
        for key, values in times.items():
            values.sort()
            mine = sorted(cpu[key])
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            results[group_by][key] = (values[len(values) // 2], p99, mine[len(mine) // 2])
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
    parser.add_argument(
        "--tokens",
        type=int,
        metavar="MINUTE_DAYS",
        help="seed the month's served tokens first (deployments, rollups: hourly, per minute over the last "
        "MINUTE_DAYS days; SLO hours and daily token rows as collection sums them), replacing earlier ones",
    )
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
            with connection.cursor() as cursor:
                # What autovacuum does to a served database in time: statistics and the visibility map. A freshly
                # built one has neither (every plan estimated 1 row and read the heap), which slowed "before" and
                # "now" alike (BENCHMARKS.md, issue 20, 1 Dec 06:14).
                cursor.execute("VACUUM ANALYZE")
        else:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)  # a database kept by an earlier version of the code
        if args.tokens is not None:
            seed_tokens(minute_days=args.tokens)
        month = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        close_at = dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)
        user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
        from config.startup import load_and_freeze

        load_and_freeze()  # as a web process serves (config/wsgi.py)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        explorer = explorer_times(args, user, month="2026-03")
        print(
            f"explorer month as served, {args.explorer_runs} runs each (ms: p50 / p99 wall, p50 CPU of this process), "
            f"load {load} -> " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + ":"
        )
        for name, ways in explorer.items():
            print(
                f"  by {name:10s} "
                + ", ".join(
                    f"{way} {code} {p50:.1f} / {p99:.1f} ({c:.1f})" for (way, code), (p50, p99, c) in ways.items()
                )
            )
        print("(now and before answer the same bytes: JSON page, CSV, console page)")
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


def seed_tokens(*, minute_days: int) -> None:
    """The tokens March's 1,000 deployments served, as the observability tables hold them at the month's end: a
    deployment row per metered deployment id, one LLM component's rollups (hourly, per minute over the last
    `minute_days` days: the 7-day minute retention gives ~10 M rows), the SLO hours and daily token rows summed from
    them in SQL as collection's refresh sums them (observability.collect; its test proves the sums). Token counts are
    whole numbers, so every way of adding them up gives the same float and the answers compare byte for byte."""
    from django.db import connection, transaction

    from deployments.models import UseCaseDeployment
    from jobs.models import Cluster, Job
    from templates_app.models import UseCaseTemplate

    t0 = time.perf_counter()
    cluster = Cluster.objects.get(name="bench")
    template, _ = UseCaseTemplate.objects.get_or_create(
        slug="bench",
        version="1",
        tenant=cluster.tenant,
        defaults={"name": "bench", "category": UseCaseTemplate.Category.values[0]},
    )
    ids = sorted(set(Job.objects.values_list("usecase_deployment_id", flat=True)), key=str)
    UseCaseDeployment.objects.bulk_create(
        [
            UseCaseDeployment(
                id=pk, tenant=cluster.tenant, project=Job.objects.filter(usecase_deployment_id=pk).first().project,
                cluster=cluster, template=template, template_version="1", name=f"bench-{n:04d}", status="RUNNING",
            )
            for n, pk in enumerate(ids)
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )  # fmt: skip
    month, end = "2026-03-01", "2026-04-01"
    split = (dt.datetime(2026, 4, 1, tzinfo=dt.UTC) - dt.timedelta(days=minute_days)).isoformat()
    values = """(1000 + abs(hashtext(d.id::text)) %% 997) * {n}, (200 + abs(hashtext(d.id::text)) %% 89) * {n},
        10 * {n}, 0, 1, 0, 0.5, 0.4, 0.3, 1, 0.01 * {n}"""
    columns = """deployment_id, component_key, is_llm, resolution, start, prompt_tokens, output_tokens, requests,
        errors, running, waiting, gpu_utilisation, kv_cache_usage, cpu_utilisation, replicas, cost"""
    with transaction.atomic(), connection.cursor() as cursor:
        for table, column in (("observability_tokenday", "day"), ("observability_slohour", "hour")):
            cursor.execute(f"DELETE FROM {table} WHERE {column} >= %s AND {column} < %s", (month, end))
        cursor.execute("DELETE FROM observability_metricrollup WHERE start >= %s AND start < %s", (month, end))
        for resolution, first, after, n in ((3600, month, split, 60), (60, split, end, 1)):
            cursor.execute(
                f"""INSERT INTO observability_metricrollup ({columns})
                SELECT d.id, 'llm', TRUE, %s, t, {values.format(n=n)} FROM deployments_usecasedeployment AS d
                CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz - make_interval(secs => %s),
                    make_interval(secs => %s)) AS t""",
                (resolution, first, after, resolution, resolution),
            )
        cursor.execute(
            """INSERT INTO observability_slohour (deployment_id, hour, requests, errors, ttft_good, itl_good, e2e_good,
                tokens, all_requests)
            SELECT deployment_id, date_trunc('hour', start), SUM(requests) FILTER (WHERE is_llm),
                SUM(errors) FILTER (WHERE is_llm), NULL, NULL, NULL, SUM(prompt_tokens + output_tokens), SUM(requests)
            FROM observability_metricrollup WHERE start >= %s AND start < %s GROUP BY 1, 2""",
            (month, end),
        )
        cursor.execute(
            """INSERT INTO observability_tokenday (deployment_id, day, tokens, requests)
            SELECT deployment_id, date_trunc('day', hour), SUM(tokens), SUM(all_requests)
            FROM observability_slohour WHERE hour >= %s AND hour < %s GROUP BY 1, 2""",
            (month, end),
        )
        cursor.execute("SELECT COUNT(*) FROM observability_metricrollup WHERE start >= %s AND start < %s", (month, end))
        rollups = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        for table in ("observability_metricrollup", "observability_slohour", "observability_tokenday"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"tokens seeded: {len(ids)} deployments, {rollups} rollups (per minute over the last {minute_days} days), "
        f"SLO hours and daily token rows summed from them, in {time.perf_counter() - t0:.0f} s"
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


if __name__ == "__main__":
    main()
