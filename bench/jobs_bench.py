"""Benchmark of the job layer: submit N jobs to one simulated cluster that runs 100 at a time, then drive them
to completion with the beat task (`jobs.tasks.advance_jobs`) on a controlled clock (2 s per beat).

Measures: submissions per second, jobs admitted per second of pass time, the median and p99 wall time of one
scheduling pass, and SQL queries per pass (split into the constant part and the part per changed job).

The N jobs are submitted one by one with `job_submit(..., schedule=False)` (recorded PENDING; the beat's passes
admit them). After the drain, in the same run and database, two more clusters measure the other ways in: the
same N jobs through `jobs_submit_many` (1,000 per call, one pass each), and `--with-pass` jobs (default 1,000)
submitted one by one with a pass each, as every submit did before.

    python bench/jobs_bench.py            # 10,000 jobs on PostgreSQL database uf_bench_jobs (created, then dropped)
    python bench/jobs_bench.py --quick    # 1,000 jobs
    python bench/jobs_bench.py --database-url sqlite:///var/bench_jobs.sqlite3
    python bench/jobs_bench.py --submissions-only   # only the three ways in (no drain): under a minute when quiet

Lines starting with SUMMARY are the submission figures (jobs/s, CPU time of this process and SQL statements per
submit); the load average is printed beside them.

The PostgreSQL database named in --database-url is created if missing (dropped first when it exists) and dropped
at the end unless --keep is given. With --reuse a kept database is used as it is (migrated if needed, the previous
run's jobs and clusters removed first) and kept: no database creation and no full migrate, so an A/B run of two
trees is quick:

    python bench/jobs_bench.py --submissions-only --jobs 2000 --with-pass 200 --reuse \
        --database-url postgres://postgres@127.0.0.1:5432/ucf_21_bench_jobs
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

# BENCH_TREE: measure another checkout with this script (bench/jobs_ab.sh alternates trees that way).
ROOT = Path(os.environ.get("BENCH_TREE") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/uf_bench_jobs"
SLOTS = 100
BEAT_SECONDS = 2.0


def _admin_dsn(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    return parsed._replace(path="/postgres").geturl(), name


def recreate_postgres(url: str) -> None:
    import psycopg

    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def create_postgres_if_missing(url: str) -> None:
    import psycopg

    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _submitter(cluster_id, indices, make_job, ready, go, results) -> None:
    from django.db import connection

    from jobs import services
    from jobs.models import Cluster

    connection.close()  # the parent's connection is not this process's
    cluster = Cluster.objects.get(pk=cluster_id)
    jobs = [make_job(i) for i in indices]
    ready.put(os.getpid())
    go.wait()
    c0 = time.process_time()
    for job in jobs:
        services.job_submit(cluster=cluster, schedule=False, **job)
    results.put((time.perf_counter(), time.process_time() - c0))
    connection.close()


def concurrent_submits(cluster, submitters: int, total: int, make_job) -> tuple[float, float]:
    """`total` jobs submitted one by one by `submitters` forked processes at once, each on its own connection.
    Returns the wall time from the start signal to the last submit, and the CPU time of the submitters."""
    import multiprocessing

    from django.db import connections

    context = multiprocessing.get_context("fork")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    connections.close_all()  # no connection shared across the fork
    workers = [
        context.Process(target=_submitter, args=(cluster.pk, range(k, total, submitters), make_job, ready, go, results))
        for k in range(submitters)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    t0 = time.perf_counter()
    go.set()
    done = [results.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    return max(end for end, _ in done) - t0, sum(cpu for _, cpu in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 jobs instead of 10,000")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the kept database (emptied of bench jobs), keep it")
    parser.add_argument("--with-pass", type=int, default=None, help="jobs submitted with a pass each (default 1,000)")
    parser.add_argument(
        "--submitters",
        type=int,
        default=4,
        help="processes submitting one by one at once, as several API workers would (0: not measured)",
    )
    parser.add_argument(
        "--submissions-only", action="store_true", help="measure the three ways in, not the drain (no passes)"
    )
    args = parser.parse_args()
    total = args.jobs or (1_000 if args.quick else 10_000)
    with_pass = args.with_pass if args.with_pass is not None else min(total, 1_000)
    is_postgres = args.database_url.startswith("postgres")

    if is_postgres and args.reuse:
        create_postgres_if_missing(args.database_url)
    elif is_postgres:
        recreate_postgres(args.database_url)
    else:
        Path(urlparse(args.database_url).path).unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"

    import django

    django.setup()
    import time_machine
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs import services
    from jobs.models import Cluster, Job
    from jobs.services.submission import BULK_MAX
    from jobs.tasks import advance_jobs
    from tenancy.models import Project, Tenant

    try:
        call_command("migrate", verbosity=0)
        if args.reuse:  # the previous run's jobs and clusters go; the schema and the tenant stay
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {Job._meta.db_table} CASCADE")
                Cluster.objects.all().delete()
                cursor.execute("VACUUM ANALYZE")  # a clean start: no dead rows of the previous run
        tenant, _ = Tenant.objects.get_or_create(name="Bench")
        project, _ = Project.objects.get_or_create(tenant=tenant, name="bench")

        def new_cluster(name: str):
            return services.cluster_create(
                tenant=tenant,
                name=name,
                inventory={"gpus": {"H100-80GB": SLOTS}, "cpu_cores": SLOTS * 4, "memory_gib": SLOTS * 32},
                prices={"gpu_hour": {"H100-80GB": 2.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
                simulation={"startup_seconds": {"default": 2}, "failure_rate": 0.02, "seed": 1},
            )

        resources = {"gpu_type": "H100-80GB", "gpu_count": 1, "cpu": 4, "memory_gib": 32, "replicas": 1}
        spec = {"kind": "docker", "image": "ghcr.io/acme/trainer", "tag": "1.0"}

        def job(i: int) -> dict:
            return {
                "name": f"job-{i}",
                "job_type": "BATCH",
                "tenant": tenant,
                "project": project,
                "resources": resources,
                "spec": spec,
                "priority": (0, 50, 75)[i % 3],
                "duration_seconds": 10 + (i * 7919) % 51,  # 10..60 s, spread deterministically
            }

        cluster = new_cluster("bench")
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

        load_start = os.getloadavg()[0]
        with time_machine.travel(start, tick=False) as clock:
            with CaptureQueriesContext(connection) as ctx:  # the first submit: its statements, and a warm-up
                services.job_submit(cluster=cluster, schedule=False, **job(0))
            submit_queries = len(ctx.captured_queries)
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(1, total):
                services.job_submit(cluster=cluster, schedule=False, **job(i))
                if i % 50 == 49:
                    clock.shift(0.01)
            submit_seconds, submit_cpu = time.perf_counter() - t0, time.process_time() - c0

            pass_seconds: list[float] = []
            pass_queries: list[int] = []
            pass_changes: list[int] = []
            admitted_total = 0
            waiting_at_pass: list[int] = []
            while not args.submissions_only and Job.objects.filter(status__in=Job.Status.ACTIVE).exists():
                waiting_at_pass.append(Job.objects.filter(status__in=("PENDING", "QUEUED"), admitted_at=None).count())
                clock.shift(BEAT_SECONDS)
                connection.queries_log.clear()  # the log keeps 9,000 entries; a pass must start below that
                with CaptureQueriesContext(connection) as ctx:
                    t1 = time.perf_counter()
                    summary = advance_jobs()
                    pass_seconds.append(time.perf_counter() - t1)
                pass_queries.append(len(ctx.captured_queries))
                pass_changes.append(summary["changed"])
                admitted_total += summary["admitted"]
                if len(pass_seconds) > 100_000:
                    raise RuntimeError("jobs did not finish")

            # The other ways in, same run: many at once (one pass per call), and one by one with a pass each.
            bulk_cluster = new_cluster("bench-bulk")
            t0 = time.perf_counter()
            for first in range(0, total, BULK_MAX):
                batch = [job(i) for i in range(first, min(total, first + BULK_MAX))]
                services.jobs_submit_many(cluster=bulk_cluster, jobs=batch)
            bulk_seconds = time.perf_counter() - t0
            pass_cluster = new_cluster("bench-pass")
            t0 = time.perf_counter()
            for i in range(with_pass):
                services.job_submit(cluster=pass_cluster, **job(i))
            with_pass_seconds = time.perf_counter() - t0

        # Several submitters at once (real clock): what the platform takes from all its clients together.
        concurrent = None
        if args.submitters > 0:
            concurrent = concurrent_submits(
                new_cluster("bench-concurrent"), args.submitters, total, lambda i: job(i) | {"name": f"c-{i}"}
            )

        counts = dict(
            Job.objects.filter(cluster=cluster).values_list("status").annotate(n=django.db.models.Count("id"))
        )
        idle = [q for q, c in zip(pass_queries, pass_changes, strict=True) if c == 0]
        # Queries beyond one per changed job (a start, an end or a bulk admission touches each job once or twice).
        overhead = [q - c for q, c in zip(pass_queries, pass_changes, strict=True)]
        deep = [s for s, w in zip(pass_seconds, waiting_at_pass, strict=True) if w >= total / 2]
        # Passes with a short queue but a full cluster, to compare against passes with a long queue.
        shallow = [s for s, w in zip(pass_seconds, waiting_at_pass, strict=True) if 0 < w <= 2 * SLOTS]
        busy = sum(pass_seconds)
        print(f"database: {connection.vendor}; jobs: {total}; cluster slots: {SLOTS}; beat: {BEAT_SECONDS:g} s")
        print(f"final statuses: {counts}")
        print(f"load average (1 min) at the start: {load_start:.2f}, at the end: {os.getloadavg()[0]:.2f}")
        print(
            f"SUMMARY submit one by one, no pass: {(total - 1) / submit_seconds:,.0f} jobs/s ({submit_seconds:.1f} s), "
            f"{submit_cpu / (total - 1) * 1000:.3f} ms CPU of this process per submit, "
            f"{submit_queries} SQL statement(s) per submit"
        )
        print(f"SUMMARY submit {BULK_MAX:,} per jobs_submit_many call: {total / bulk_seconds:,.0f} jobs/s")
        if concurrent:
            seconds, cpu = concurrent
            print(
                f"SUMMARY submit one by one from {args.submitters} processes at once, no pass: "
                f"{total / seconds:,.0f} jobs/s together ({seconds:.1f} s for {total:,}), "
                f"{cpu / total * 1000:.3f} ms CPU of the submitting processes per submit"
            )
        if with_pass:
            rate = with_pass / with_pass_seconds
            print(f"SUMMARY submit one by one with a pass each ({with_pass:,} jobs): {rate:,.0f} jobs/s")
        if args.submissions_only:
            return
        print(f"first pass (admits {SLOTS}, queues the other {total - SLOTS:,}): {pass_seconds[0] * 1000:.1f} ms")
        print(f"passes: {len(pass_seconds)}; admitted during passes: {admitted_total}")
        print(f"admitted per second of pass time: {admitted_total / busy:,.0f} ({busy:.2f} s in passes)")
        print(
            f"pass wall time: median {statistics.median(pass_seconds) * 1000:.2f} ms, "
            f"p99 {percentile(pass_seconds, 0.99) * 1000:.2f} ms, max {max(pass_seconds) * 1000:.2f} ms"
        )
        if deep and shallow:
            ratio = statistics.median(deep) / statistics.median(shallow)
            print(
                f"pass median with >= {total // 2} waiting: {statistics.median(deep) * 1000:.2f} ms; "
                f"with 1..{2 * SLOTS} waiting: {statistics.median(shallow) * 1000:.2f} ms (ratio {ratio:.2f})"
            )
        print(
            f"queries per pass: median {statistics.median(pass_queries):g}, p99 {percentile(pass_queries, 0.99):g}, "
            f"max {max(pass_queries)}; with no change: {min(idle) if idle else '-'}..{max(idle) if idle else '-'}"
        )
        print(f"queries per pass minus changed jobs: min {min(overhead)}, max {max(overhead)}")
    finally:
        connection.close()
        if is_postgres and not (args.keep or args.reuse):
            drop_postgres(args.database_url)


if __name__ == "__main__":
    main()
