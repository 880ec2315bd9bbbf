"""Deployment orchestration benchmark (issue 7).

    python bench/deployments_bench.py --count 1000 --workers 2          # PostgreSQL + Redis (needs both running)
    python bench/deployments_bench.py --count 1000 --workers 2 --clients 2   # the same POSTs from 2 processes at once
    python bench/deployments_bench.py --embedded --count 10             # single deployments on the embedded default
    python bench/deployments_bench.py --quick                           # 50 deployments, for a smoke run
    python bench/deployments_bench.py --update 100                      # issue 8: update the LLM of 100 at once
    python bench/deployments_bench.py --scale 100                       # issue 8: scale their LLM 1 -> 3 -> 1

PostgreSQL mode creates (and drops) its own database `uf_bench_deployments` (`BENCH_DB` names another, `BENCH_REDIS_URL`
another Redis database, so two runs on one server do not collide), runs a simulated cluster with zero
start-up time and enough capacity for every deployment, starts N Celery worker processes (concurrency 1 each),
POSTs `--count` simple-rag-v1 deployments through the API (the in-process DRF test client, the whole request path
without HTTP; one client posting one after another, or `--clients K` forked processes posting their shares at
once) and waits until all are RUNNING. It reports:
  - deployments per minute (first POST to last RUNNING),
  - the median / p99 orchestration overhead per component: from its dependencies being ready (the last
    upstream job RUNNING; the deployment's creation for roots) to its job being submitted,
  - the bare minimum of writes a component needs (insert job, update component, insert event) timed in the same
    run, and the ratio of the two,
  - SQL queries of one reconcile pass.
Update mode (`--update N`) deploys N simple-rag-v1 stacks on a cluster with 1 s start-up, waits until all run, then
PATCHes the LLM model of all N at once and reports the time until every revision is applied, the jobs started
and cancelled by the update (by component), and the longest gap in which any deployment had no RUNNING LLM job.
Scale mode (`--scale N`) does the same with a scale of the LLM from 1 to 3 replicas and back to 1: time to applied,
jobs started and ended per component, replicas of the serving LLM jobs, how many were replaced, and the gap.
Embedded mode uses a SQLite file and the filesystem broker under a temporary VAR_DIR, like `make run`, and
reports the median time from POST to RUNNING of single deployments.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import celery_worker  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def setup_environment(args) -> None:
    if args.embedded:
        var_dir = Path(tempfile.mkdtemp(prefix="uf-bench-"))
        os.environ["VAR_DIR"] = str(var_dir)
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    else:
        db = os.environ.get("BENCH_DB", "uf_bench_deployments")  # its own name when two benches share the server
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {db}"], check=True
        )
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
        os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    # One user posts every deployment: above the default 1,200 requests a minute per user (security.throttling) the
    # API answers 429, as it should; this bench times orchestration, so its user's budget is raised, as an operator
    # raises it for a CI robot (API_RATE_USER in the README). Set it in the environment to bench with the default.
    os.environ.setdefault("API_RATE_USER", "100000/minute")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = os.environ.get("BENCH_QUEUE", "bench")


def start_workers(count: int) -> list[subprocess.Popen]:
    queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
    workers = [celery_worker(name=f"bench{index}@%h", queue=queue) for index in range(count)]
    from core.tasks import ping

    for _ in range(count * 2):
        ping.apply_async(("x",), queue=queue).get(timeout=600)  # a loaded machine boots workers slowly
    return workers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--update", type=int, default=0, metavar="N", help="update mode with N deployments")
    parser.add_argument("--scale", type=int, default=0, metavar="N", help="scale mode with N deployments")
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        metavar="K",
        help="POST from K forked processes at once, each with its own connection, as K API clients posting to K web "
        "processes would (default 1: one client posting one deployment after another, the figure of the past runs)",
    )
    args = parser.parse_args()
    if args.quick:
        args.count = 10 if args.embedded else 50
    if args.update or args.scale:
        args.count = args.update or args.scale
    setup_environment(args)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from config.celery_app import app
    from deployments import reconciler
    from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
    from deployments.tests.factories import make_cluster
    from jobs.models import Job
    from tenancy.models import Membership, Project, Tenant

    call_command("migrate", verbosity=0)
    call_command("seed_templates", verbosity=0)
    app.control.purge()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench", password="x")
    tenant = Tenant.objects.create(name="Bench")
    Membership.objects.create(user=user, tenant=tenant, role="admin")
    project = Project.objects.create(tenant=tenant, name="bench")
    big = {"gpus": {"H100-80GB": 100000, "A100-80GB": 100000, "L4": 100000}, "cpu_cores": 10**7, "memory_gib": 10**8}
    cluster = make_cluster(tenant=tenant, name="bench", startup=1 if args.update or args.scale else 0, **big)
    client = APIClient()
    client.force_authenticate(user)
    body = {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": {"model_id": "meta-llama/Llama-3.1-8B-Instruct"},
    }

    print(f"starting {args.workers} workers ...", file=sys.stderr)
    workers = start_workers(args.workers)
    print("workers ready", file=sys.stderr)
    results: dict = {"count": args.count, "workers": args.workers, "database": connection.vendor}
    try:
        if args.update or args.scale:
            run = update_run if args.update else scale_run
            results.update(run(args.count, client, body, UseCaseDeployment, Job))
            print(json.dumps(results, indent=2, default=str))
            return
        if args.embedded:
            latencies = []
            for _ in range(args.count):
                started = time.perf_counter()
                deployment_id = client.post("/api/v1/deployments", body, format="json").json()["id"]
                while UseCaseDeployment.objects.get(pk=deployment_id).status != "RUNNING":
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
            results["post_to_running_s"] = {
                "median": statistics.median(latencies),
                "p99": percentile(latencies, 99),
                "max": max(latencies),
            }
        else:
            results["load_average_start"] = os.getloadavg()[0]
            results["clients"] = args.clients
            if args.clients > 1:
                started, posted, post_cpu = concurrent_posts(user, body, args.count, args.clients)
            else:
                started, cpu_started = time.perf_counter(), time.process_time()
                for _ in range(args.count):
                    response = client.post("/api/v1/deployments", body, format="json")
                    assert response.status_code == 201, response.content
                posted = time.perf_counter()
                post_cpu = time.process_time() - cpu_started
            # CPU time of the POSTing process(es) per POST (the create and, by default, its first pass): far less
            # sensitive to other processes on the machine than wall time.
            results["post_cpu_ms_per_deployment"] = post_cpu / args.count * 1000
            deadline = time.monotonic() + 1800
            while UseCaseDeployment.objects.exclude(status="RUNNING").exists():
                if time.monotonic() > deadline:
                    raise SystemExit("timed out")
                time.sleep(0.2)
            finished = time.perf_counter()
            elapsed = finished - started
            results["post_seconds"] = posted - started
            results["elapsed_seconds"] = elapsed
            results["deployments_per_minute"] = args.count / elapsed * 60
            overheads = component_overheads(ComponentDeployment, UseCaseDeployment)
            results["overhead_ms"] = {
                "median": statistics.median(overheads) * 1000,
                "p99": percentile(overheads, 99) * 1000,
            }
            # The same up to the moment the component's job was recorded (its created_at), by roots and dependants:
            # a row's submitted_at is its pass's start, earlier than its upstream's running_at when both come up in
            # one pass, so the figure above gives a dependant a negative overhead.
            by_job = component_overheads(ComponentDeployment, UseCaseDeployment, by_job=True)
            results["overhead_to_job_ms"] = {
                kind: {"median": statistics.median(values) * 1000, "p99": percentile(values, 99) * 1000}
                for kind, values in (
                    ("all", [v for _, v in by_job]),
                    ("roots", [v for root, v in by_job if root]),
                    ("dependants", [v for root, v in by_job if not root]),
                )
                if values
            }
            bare = bare_minimum_writes(cluster, project, tenant, ComponentDeployment, DeploymentEvent, Job, transaction)
            results["bare_minimum_ms"] = {"median": statistics.median(bare) * 1000}
            results["overhead_ratio"] = results["overhead_ms"]["median"] / results["bare_minimum_ms"]["median"]
            results["overhead_to_job_ratio"] = (
                results["overhead_to_job_ms"]["all"]["median"] / results["bare_minimum_ms"]["median"]
            )
            results["load_average_end"] = os.getloadavg()[0]
        # queries of one reconcile pass of a fresh deployment (zero start-up: the whole stack in one pass)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        workers = []
        # The POST runs the first pass inside the create's transaction, once the component rows are inserted: its
        # queries are those from the next savepoint to its release (the rest are the POST's; a pass that reads the
        # deployment again starts with its row lock, one that takes the create's objects does not).
        with CaptureQueriesContext(connection) as ctx:
            deployment_id = client.post("/api/v1/deployments", body, format="json").json()["id"]
        sqls = [query["sql"] for query in ctx.captured_queries]
        rows_inserted = next(i for i, sql in enumerate(sqls) if sql.startswith('INSERT INTO "deployments_componentd'))
        first = next(i for i, sql in enumerate(sqls) if i > rows_inserted and sql.startswith("SAVEPOINT"))
        last = sqls.index(f"RELEASE {sqls[first]}", first)
        results["queries_post"] = len(sqls) - (last + 1 - first)
        results["queries_first_pass"] = last + 1 - first
        results["queries_first_pass_per_component"] = (len(sqls) - first) / len(body_components(deployment_id))
        with CaptureQueriesContext(connection) as ctx:
            reconciler.deployment_reconcile(deployment_id=deployment_id)
        results["queries_steady_pass"] = len(ctx.captured_queries)
    finally:
        for worker in workers:
            worker.terminate()
    print(json.dumps(results, indent=2, default=str))
    if "overhead_ratio" in results:
        print(
            f"SUMMARY {args.count} deployments: {results['deployments_per_minute']:.1f} per minute; overhead per "
            f"component median {results['overhead_ms']['median']:.2f} ms / bare writes "
            f"{results['bare_minimum_ms']['median']:.2f} ms = {results['overhead_ratio']:.2f}x; "
            f"to the job's record {results['overhead_to_job_ms']['all']['median']:.2f} ms = "
            f"{results['overhead_to_job_ratio']:.2f}x (roots {results['overhead_to_job_ms']['roots']['median']:.2f}, "
            f"dependants {results['overhead_to_job_ms'].get('dependants', {}).get('median', float('nan')):.2f} ms); "
            f"{results['clients']} POSTing client(s); "
            f"{results['post_cpu_ms_per_deployment']:.1f} ms CPU per POST; queries: POST {results['queries_post']} + "
            f"first pass {results['queries_first_pass']}; load average {results['load_average_start']:.2f} at the "
            f"start, {results['load_average_end']:.2f} at the end"
        )


def _poster(user_id, body: dict, count: int, ready, go, results) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    connection.close()  # the parent's connection is not this process's
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=user_id))
    ready.put(os.getpid())
    go.wait()
    cpu_started = time.process_time()
    failures = []
    for _ in range(count):
        response = client.post("/api/v1/deployments", body, format="json")
        if response.status_code != 201:
            failures.append((response.status_code, response.content[:500]))
    results.put((time.perf_counter(), time.process_time() - cpu_started, failures))
    connection.close()


def concurrent_posts(user, body: dict, count: int, clients: int) -> tuple[float, float, float]:
    """`count` POSTs from `clients` forked processes at once (each its share, one after another, on its own
    connection): several API clients posting to several web processes. Returns the start, the end of the last POST
    and the CPU time of the posting processes together."""
    import multiprocessing

    from django.db import connections

    context = multiprocessing.get_context("fork")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    connections.close_all()  # no connection shared across the fork
    shares = [count // clients + (1 if index < count % clients else 0) for index in range(clients)]
    posters = [context.Process(target=_poster, args=(user.pk, body, share, ready, go, results)) for share in shares]
    for poster in posters:
        poster.start()
    for _ in posters:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    done = [results.get(timeout=3600) for _ in posters]
    for poster in posters:
        poster.join()
    failures = [failure for _, _, failed in done for failure in failed]
    assert not failures, failures[:3]
    return started, max(end for end, _, _ in done), sum(cpu for _, cpu, _ in done)


def update_run(count: int, client, body: dict, UseCaseDeployment, Job) -> dict:
    from collections import Counter

    from django.utils import timezone

    from deployments.selectors import service_gap_seconds

    ids = [client.post("/api/v1/deployments", body, format="json").json()["id"] for _ in range(count)]
    while UseCaseDeployment.objects.exclude(status="RUNNING").exists():
        time.sleep(0.2)
    patched_at = timezone.now()
    started = time.perf_counter()
    for deployment_id in ids:
        response = client.patch(
            f"/api/v1/deployments/{deployment_id}",
            {"parameters": {"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}},
            format="json",
        )
        assert response.status_code == 202, response.content
    posted = time.perf_counter() - started
    while (
        UseCaseDeployment.objects.exclude(revision=2).exists()
        or UseCaseDeployment.objects.exclude(status="RUNNING").exists()
    ):
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    new_jobs = Job.objects.filter(created_at__gte=patched_at, usecase_deployment_id__in=ids)
    cancelled = Job.objects.filter(completed_at__gte=patched_at, status="CANCELLED", usecase_deployment_id__in=ids)
    gaps = [service_gap_seconds(deployment_id=i, key="llm") for i in ids]
    return {
        "deployments": count,
        "patch_seconds": posted,
        "time_to_all_applied_s": elapsed,
        "jobs_started_by_component": dict(Counter(job.labels.get("usecase.component") for job in new_jobs)),
        "jobs_cancelled_by_component": dict(Counter(job.labels.get("usecase.component") for job in cancelled)),
        "longest_llm_gap_s": max(gaps),
    }


def scale_run(count: int, client, body: dict, UseCaseDeployment, Job) -> dict:
    """Scale the LLM of `count` running deployments from 1 to 3 replicas, then back to 1, through the API."""
    from collections import Counter

    from django.utils import timezone

    from deployments.models import ComponentDeployment
    from deployments.selectors import service_gap_seconds

    def serving_llm_jobs() -> dict:
        rows = ComponentDeployment.objects.filter(
            deployment_id__in=ids, key="llm", retired_at__isnull=True, is_candidate=False
        )
        return dict(rows.values_list("deployment_id", "job_id"))

    def wait_for_revision(number: int) -> None:
        while (
            UseCaseDeployment.objects.filter(pk__in=ids).exclude(revision=number).exists()
            or UseCaseDeployment.objects.filter(pk__in=ids).exclude(status="RUNNING").exists()
        ):
            time.sleep(0.2)

    ids = [client.post("/api/v1/deployments", body, format="json").json()["id"] for _ in range(count)]
    wait_for_revision(1)
    before = serving_llm_jobs()
    results: dict = {"deployments": count}
    for name, replicas, revision in (("up_1_to_3", 3, 2), ("down_3_to_1", 1, 3)):
        changed_at = timezone.now()
        started = time.perf_counter()
        for deployment_id in ids:
            response = client.post(
                f"/api/v1/deployments/{deployment_id}/scale", {"scale": {"llm": replicas}}, format="json"
            )
            assert response.status_code == 202, response.content
        posted = time.perf_counter() - started
        wait_for_revision(revision)
        new_jobs = Job.objects.filter(created_at__gte=changed_at, usecase_deployment_id__in=ids)
        ended = Job.objects.filter(completed_at__gte=changed_at, status="CANCELLED", usecase_deployment_id__in=ids)
        replicas_now = Counter(
            Job.objects.filter(pk__in=serving_llm_jobs().values()).values_list("resources__replicas", flat=True)
        )
        results[name] = {
            "post_seconds": posted,
            "time_to_all_applied_s": time.perf_counter() - started,
            "jobs_started_by_component": dict(Counter(job.labels.get("usecase.component") for job in new_jobs)),
            "jobs_ended_by_component": dict(Counter(job.labels.get("usecase.component") for job in ended)),
            "serving_llm_replicas": dict(replicas_now),
        }
    results["serving_llm_jobs_replaced"] = sum(1 for key, job in serving_llm_jobs().items() if before[key] != job)
    results["longest_llm_gap_s"] = max(service_gap_seconds(deployment_id=i, key="llm") for i in ids)
    return results


def body_components(deployment_id) -> list:
    from deployments.models import ComponentDeployment

    return list(ComponentDeployment.objects.filter(deployment_id=deployment_id, retired_at__isnull=True))


def component_overheads(ComponentDeployment, UseCaseDeployment, *, by_job: bool = False) -> list:
    """Per component: submitted_at minus the moment its last dependency became RUNNING (roots: creation). With
    `by_job`: (is a root, its job's created_at minus that moment) instead."""
    overheads = []
    deployments = UseCaseDeployment.objects.prefetch_related("components__job")
    for deployment in deployments:
        rows = {row.key: row for row in deployment.components.all() if row.retired_at is None}
        for row in rows.values():
            ready = max((rows[key].running_at for key in row.depends_on), default=deployment.created_at)
            if by_job:
                overheads.append((not row.depends_on, (row.job.created_at - ready).total_seconds()))
            else:
                overheads.append((row.submitted_at - ready).total_seconds())
    return overheads


def bare_minimum_writes(
    cluster, project, tenant, ComponentDeployment, DeploymentEvent, Job, transaction
) -> list[float]:
    """The least a component needs: insert its job, update its row, insert an event — one transaction."""
    row = ComponentDeployment.objects.select_related("deployment").first()
    timings = []
    for index in range(300):
        started = time.perf_counter()
        with transaction.atomic():
            job = Job.objects.create(
                cluster=cluster,
                tenant=tenant,
                project=project,
                name=f"bare-{index}",
                job_type="SERVICE",
                source_type="USECASE",
                resources={"gpu_count": 0, "cpu": 1, "memory_gib": 1, "replicas": 1},
                spec={},
            )
            ComponentDeployment.objects.filter(pk=row.pk).update(status_message=f"bare {index} {job.pk}")
            DeploymentEvent.objects.create(deployment=row.deployment, kind="bench", message="bare")
        timings.append(time.perf_counter() - started)
    Job.objects.filter(name__startswith="bare-").delete()
    DeploymentEvent.objects.filter(kind="bench").delete()
    return timings


if __name__ == "__main__":
    main()
