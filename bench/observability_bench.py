"""Observability benchmark (issue 17): 1,000 running deployments, their metric collection, storage and queries.

    python bench/observability_bench.py [--count 1000] [--minutes 5] [--runs 50] [--keep]
    python bench/observability_bench.py --reuse [--copy-days] [--runs 20]   # queries again on a kept database

Creates (and drops) its own PostgreSQL database `uf_bench_observability` (BENCH_DB names another), deploys one
simple-rag-v1 stack sized for the `ambient_scribe` use case through the real services and brings it to RUNNING, then
clones it (deployment, components and RUNNING jobs) to `--count` deployments. It reports:
  - collection: one `metrics_collect` pass per minute of data for every component of every deployment (4 each:
    one LLM from the performance model, three services) — wall and CPU seconds and SQL queries per pass;
  - storage: bytes per rollup row (table + indexes + TOAST, from pg_total_relation_size) and so per deployment per
    day at minute resolution and, past 7 days, at hour resolution;
  - a 24 h range query at a 1-minute step (TTFT quantiles, request rate, GPU utilisation) and the 30-day SLO query,
    on deployments with 24 h of minute rollups, resp. 7 days of minutes + 23 days of hours: median and p99 of --runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def setup_database(*, reuse: bool = False) -> str:
    db = os.environ.get("BENCH_DB", "uf_bench_observability")
    for sql in () if reuse else (f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    return db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=5, help="collection passes (one minute of data each)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="the database an earlier --keep run left; no collection")
    parser.add_argument("--keep", action="store_true", help="leave the database for a later --reuse run")
    parser.add_argument("--copy-days", action="store_true", help="simulate one day of history, copy it to days 2-7")
    parser.add_argument("--fresh-history", action="store_true", help="with --reuse: simulate the history again")
    parser.add_argument("--quick", action="store_true", help="smoke: 20 deployments, 1 pass, 5 runs")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="time the queries without the web process's gc.freeze() (config.startup)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.count, args.minutes, args.runs = 20, 1, 5
    db = setup_database(reuse=args.reuse)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args)
    django.db.connections.close_all()
    if not args.keep:
        drop = f"DROP DATABASE IF EXISTS {db}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", drop], check=True)


def run(args) -> None:
    import json

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from deployments import reconciler
    from deployments.models import ComponentDeployment, UseCaseDeployment, endpoint_slug_for
    from deployments.services import deployment_create
    from deployments.tests.factories import make_cluster, seed_system_templates
    from jobs.models import Job
    from observability.collect import floor_minute, metrics_collect
    from observability.models import DeploymentRollup, MetricRollup
    from templates_app.models import UseCaseTemplate
    from tenancy.tests.factories import MembershipFactory, ProjectFactory, TenantFactory, UserFactory
    from usecases import services as usecase_services
    from usecases.bootstrap import FIXTURE

    def setup_and_collect():
        usecase_services.usecases_import(data=json.loads(FIXTURE.read_text(encoding="utf-8")))
        seed_system_templates()
        tenant = TenantFactory(name="bench")
        user = UserFactory(username="bench")
        MembershipFactory(user=user, tenant=tenant, role="admin")
        project = ProjectFactory(tenant=tenant, name="bench")
        cluster = make_cluster(tenant=tenant, name="bench")
        template = UseCaseTemplate.objects.get(slug="simple-rag-v1", tenant__isnull=True)
        first, _ = deployment_create(user=user, template=template, project=project, cluster=cluster,
                                     parameters={"model_id": "meta-llama/Llama-3.1-8B-Instruct"}, name="bench-0",
                                     usecase_id="ambient_scribe", load={"concurrency": 20})  # fmt: skip
        for _ in range(6):
            reconciler.deployment_reconcile(deployment_id=first.pk)
        first.refresh_from_db()
        assert first.status == "RUNNING", first.status_message
        started = timezone.now() - timedelta(days=31)
        Job.objects.filter(usecase_deployment_id=first.pk).update(started_at=started)
        components = list(first.components.filter(retired_at__isnull=True, is_candidate=False).select_related("job"))
        deployments, rows, jobs = [], [], []
        for i in range(1, args.count):
            clone = UseCaseDeployment.objects.get(pk=first.pk)
            clone.pk, clone.name, clone.idempotency_key = uuid.uuid4(), f"bench-{i}", None
            clone.endpoint_slug = endpoint_slug_for(clone.name, clone.pk)
            deployments.append(clone)
            for component in components:
                job = Job.objects.get(pk=component.job_id)
                row = ComponentDeployment.objects.get(pk=component.pk)
                row.pk, row.deployment_id = uuid.uuid4(), clone.pk
                job.pk, job.usecase_deployment_id, job.component_deployment_id = uuid.uuid4(), clone.pk, row.pk
                row.job_id = job.pk
                jobs.append(job)
                rows.append(row)
        UseCaseDeployment.objects.bulk_create(deployments, batch_size=500)
        Job.objects.bulk_create(jobs, batch_size=500)
        ComponentDeployment.objects.bulk_create(rows, batch_size=500)
        print(f"{args.count} deployments, {len(rows) + len(components)} running components")

        now = floor_minute(timezone.now())
        metrics_collect(now=now - timedelta(minutes=args.minutes))  # the catch-up pass, not measured
        passes = []
        for m in range(args.minutes, 0, -1):
            with CaptureQueriesContext(connection) as queries:
                wall, cpu = time.perf_counter(), time.process_time()
                result = metrics_collect(now=now - timedelta(minutes=m - 1))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            passes.append((wall, cpu, len(queries), result.rows))
        print("collection pass (1 minute of data):")
        for wall, cpu, count, written in passes:
            print(f"  wall {wall:.2f} s  cpu {cpu:.2f} s  queries {count}  rows {written}")
        print(f"  median wall {statistics.median(p[0] for p in passes):.2f} s, "
              f"median cpu {statistics.median(p[1] for p in passes):.2f} s")  # fmt: skip

        with connection.cursor() as cursor:
            sizes = {}
            for table in ("observability_metricrollup", "observability_deploymentrollup"):
                cursor.execute(f"VACUUM ANALYZE {table}")
                cursor.execute(f"SELECT pg_total_relation_size('{table}')")
                sizes[table] = cursor.fetchone()[0]
        count, merged = MetricRollup.objects.count(), DeploymentRollup.objects.count()
        per_row = sizes["observability_metricrollup"] / count
        per_merged = sizes["observability_deploymentrollup"] / merged if merged else 0.0
        per_day = (per_row * len(components) + per_merged) * 1440
        print(f"storage: {count} component rollups, {sizes['observability_metricrollup'] / 1e6:.1f} MB, "
              f"{per_row:.0f} B/row; {merged} deployment rollups, "
              f"{sizes['observability_deploymentrollup'] / 1e6:.1f} MB, {per_merged:.0f} B/row; per deployment per "
              f"day: {per_day / 1e6:.2f} MB at minute resolution ({len(components)} component rows + 1 deployment "
              f"row a minute), {per_day / 60 / 1e3:.1f} kB at hour resolution (rows of similar size)")  # fmt: skip
        return first, cluster, components, now

    if args.reuse:  # the database a previous run left: its deployments and rollups, a fresh history below
        first = UseCaseDeployment.objects.get(name="bench-0")
        cluster = first.cluster
        components = list(first.components.filter(retired_at__isnull=True, is_candidate=False).select_related("job"))
        now = floor_minute(timezone.now())
        print(f"reusing {UseCaseDeployment.objects.count()} deployments, {MetricRollup.objects.count()} rollups")
    else:
        first, cluster, components, now = setup_and_collect()

    kept = MetricRollup.objects.filter(deployment=first, resolution=MetricRollup.Resolution.MINUTE)
    if args.reuse and not args.fresh_history and kept.count() >= 1440:
        # The history an earlier run wrote: query it where it ends (its "now"), so a re-run only measures.
        now = kept.latest("start").start + timedelta(minutes=1)
        print(f"reusing the history of bench-0: {MetricRollup.objects.filter(deployment=first).count()} rows")
    else:
        now = make_history(first, cluster, components, now, copy_days=args.copy_days)
    if not args.no_gc_freeze:  # as a web process serves (config/wsgi.py): start-up's objects out of the collector
        from config.startup import load_and_freeze

        load_and_freeze()
    measure(first, now, runs=args.runs)


def make_history(first, cluster, components, now, *, copy_days: bool):
    """History for the query deployment: 24 h of minutes for the range query; 7 d minutes + 23 d hours for the SLO."""
    from django.db import connection

    from jobs.drivers import get_driver
    from observability.collect import deployment_rollups_refresh, rollup_from_window, slo_hours_refresh
    from observability.models import DeploymentRollup, MetricRollup
    from observability.workload import expected_for, serving_for
    from sizing.loadsim import simulate_llm
    from usecases.models import UseCase

    usecase = UseCase.objects.get(unique_id="ambient_scribe")
    expected = expected_for(first, usecase=usecase, monitoring=None)
    driver = get_driver(cluster)
    history = []
    llm = next(c for c in components if c.key == "llm")
    serving = serving_for(first, key="llm", replicas=int(llm.job.resources.get("replicas", 1)), tokens=expected.tokens)
    MetricRollup.objects.filter(deployment=first).delete()
    DeploymentRollup.objects.filter(deployment=first).delete()
    t0 = time.perf_counter()
    for component in components:
        s = serving if component.key == "llm" else None
        days = 1 if copy_days else 7
        windows = driver.read_metrics(job=component.job, start=now - timedelta(days=days), end=now,
                                      profile=expected.profile, serving=s)  # fmt: skip
        cost = component.job.hourly_rate / 60
        day = [rollup_from_window(first, component.key, w, cost, expected.targets if s else {}, s is not None)
               for w in windows]  # fmt: skip
        history.extend(day)
    hour = (now - timedelta(days=30)).replace(minute=0)
    while hour < now - timedelta(days=7):
        w = simulate_llm(profile=expected.profile, serving=serving, start=hour, seconds=3600, key="llm")
        row = rollup_from_window(first, "llm", w, llm.job.hourly_rate, expected.targets, True)
        row.resolution = MetricRollup.Resolution.HOUR
        history.append(row)
        hour += timedelta(hours=1)
    MetricRollup.objects.bulk_create(history, batch_size=1000)
    if copy_days:  # days 2-7: day 1's rows shifted, copied by the database (same sizes; no Python objects)
        columns = [f.column for f in MetricRollup._meta.concrete_fields if f.column not in ("id", "start")]
        listed = ", ".join(f'"{c}"' for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO observability_metricrollup ({listed}, start) "
                f"SELECT {listed}, start - make_interval(days => back) FROM observability_metricrollup, "
                "generate_series(1, 6) AS back WHERE deployment_id = %s AND resolution = %s AND start >= %s",
                [first.pk, MetricRollup.Resolution.MINUTE, now - timedelta(days=1)],
            )
            copied = cursor.rowcount
        print(f"days 2-7 copied in SQL: {copied} rows")
    slo_hours_refresh(start=now - timedelta(days=31), end=now, deployment_ids=[first.pk])
    for resolution in MetricRollup.Resolution:  # what collection and compaction write beside the component rows
        deployment_rollups_refresh(start=now - timedelta(days=31), end=now, deployment_ids=[first.pk],
                                   resolution=resolution)  # fmt: skip
    print(f"history for one deployment: {MetricRollup.objects.filter(deployment=first).count()} rows in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE observability_metricrollup")  # the visibility map for index-only scans
        cursor.execute("VACUUM ANALYZE observability_slohour")
        cursor.execute("VACUUM ANALYZE observability_deploymentrollup")
    return now


def measure(first, now, *, runs: int) -> None:
    """Each query now, as it was before (bench/observability_before.py, the code at bd6b885) and, for the range
    queries, as it was at the previous measure ("previous": main at 19b1473, the generic path the application keeps
    for SQLite), alternated run by run on the same data so a loaded machine slows each alike, every way asserted to
    give the same answer: median and p99 of `runs`, this process's CPU per call, queries per call, the load."""
    import gc

    import observability_before as before
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from observability.collect import slo_hours_refresh
    from observability.models import MetricRollup
    from observability.query import LATENCIES, QUANTILES, _rows, python_range_query, range_query
    from observability.selectors import deployment_slo

    def previous(*, deployment_id, names, start, end, step, component="", llm_only=False, quantiles=QUANTILES):
        """main at 19b1473 (the lead's fourth-session measure): the generic path, steps grouped in Python."""
        rows = _rows(deployment_id, start, end, component, llm_only)
        return python_range_query(rows, names, start, step, component, quantiles, llm_only)

    names = ["vllm:time_to_first_token_seconds", "vllm:request_success_total", "DCGM_FI_DEV_GPU_UTIL"]
    day = {"deployment_id": first.pk, "names": names, "start": now - timedelta(hours=24), "end": now, "step": 60}
    e2e = {**day, "names": ["vllm:e2e_request_latency_seconds"]}
    # The console's own 24 h chart: every latency at its quantiles and the LLM's series, over the LLM components.
    console = {**day, "step": 600, "llm_only": True, "quantiles": (0.5, 0.95, 0.99),
               "names": [*LATENCIES, "ucf:requests_total", "vllm:generation_tokens_total", "DCGM_FI_DEV_GPU_UTIL",
                         "ucf:replicas"]}  # fmt: skip
    cases = [
        ("24 h range query, 1-min step, TTFT quantiles + request rate + GPU util, LLM component",
         lambda: range_query(component="llm", **day), lambda: before.range_query(component="llm", **day),
         lambda: previous(component="llm", **day)),
        ("the same over all 4 components",
         lambda: range_query(**day), lambda: before.range_query(**day), lambda: previous(**day)),
        ("24 h, 1-min step, end-to-end quantiles over all 4 components (a merge of 4 sketches per point)",
         lambda: range_query(**e2e), lambda: before.range_query(**e2e), lambda: previous(**e2e)),
        ("24 h, 10-min step (the console's 24 h chart), TTFT quantiles, LLM component",
         lambda: range_query(component="llm", **{**day, "step": 600}),
         lambda: before.range_query(component="llm", **{**day, "step": 600}),
         lambda: previous(component="llm", **{**day, "step": 600})),
        ("24 h, 10-min step, the console's chart as drawn: 3 latencies x 3 quantiles + 4 series, LLM components",
         lambda: range_query(**console), lambda: before.range_query(**console), lambda: previous(**console)),
        ("30-day SLO (deployment_slo)",
         lambda: deployment_slo(deployment=first, now=now), lambda: before.deployment_slo(deployment=first, now=now),
         None),
    ]  # fmt: skip
    for label, new, old, prev in cases:
        assert _comparable(new()) == _comparable(old()), label  # the same answer every way
        ways = [("now", new), ("before", old)] + ([("previous", prev)] if prev else [])
        if prev:
            assert _comparable(new()) == _comparable(prev()), label
        samples: dict[str, list[float]] = {way: [] for way, _ in ways}
        cpu: dict[str, list[float]] = {way: [] for way, _ in ways}
        queries: dict[str, int] = {}
        loads = []
        for _ in range(runs):
            for way, fn in ways:
                with CaptureQueriesContext(connection) as captured:
                    t, c = time.perf_counter(), time.process_time()
                    fn()
                    samples[way].append((time.perf_counter() - t) * 1000)
                    cpu[way].append((time.process_time() - c) * 1000)
                queries[way] = len(captured)
            loads.append(os.getloadavg()[0])
        print(label)
        for way in samples:
            values = samples[way]
            print(f"  {way:8}: median {statistics.median(values):7.1f} ms  p99 {percentile(values, 99):7.1f} ms  "
                  f"(CPU {statistics.median(cpu[way]):6.1f} ms)  {queries[way]} queries")  # fmt: skip
        print(f"  load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}; "
              f"gc frozen objects: {gc.get_freeze_count()}")  # fmt: skip
    last_collected = MetricRollup.objects.exclude(deployment=first).latest("start").start
    with CaptureQueriesContext(connection) as captured:
        t = time.perf_counter()
        slo_hours_refresh(start=last_collected, end=last_collected + timedelta(minutes=1))
        refresh = (time.perf_counter() - t) * 1000
    print(f"SLO hours refresh at collection (every deployment's hour of the last collected minute): {refresh:.0f} ms, "
          f"{len(captured)} queries")  # fmt: skip


def _comparable(answer):
    """An answer with floats rounded to 9 digits (the SLO sums may add in another order)."""
    if isinstance(answer, dict):
        return {k: _comparable(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [_comparable(v) for v in answer]
    return round(answer, 9) if isinstance(answer, float) else answer


if __name__ == "__main__":
    main()
