"""Benchmark of quotas (jobs/quotas/) through the real scheduling pass on PostgreSQL.

1. Admission: 10,000 waiting jobs across 50 ClusterQueues in 5 cohorts (10 queues each, weights 1-4, one
   LocalQueue per project), recorded without a pass, then scheduling passes every 10 s of a controlled clock until
   every job was admitted. Measures jobs admitted per second of pass time, the wall time of the first pass (the
   one that faces all 10,000 waiting jobs) and SQL queries per pass.
   The jobs run 30-300 s on 600 GPUs (about 160 at a time), so a pass every 10 s finds only what the last 10 s
   released (~8 jobs): the figure is then ~8 / the pass's fixed cost, bounded by the release rate, not by what a
   pass can admit. `--interval 300` (a pass every 300 simulated seconds: every running job ended since the last)
   gives each pass a whole cluster to refill (~160 admissions), which measures the pass's admission capacity; the
   summary prints both the figure over all passes and over the passes after the first (which also moves the
   10,000 submitted jobs to QUEUED).
2. Fair share: a contended simulated day. Four queues with no quota of their own (weights 1, 1, 2, 4) borrow a
   64-GPU pool lent by a fifth queue that runs nothing; each keeps more work waiting than it can run all day
   (1-8 GPU jobs of 10-16 minutes). Passes run every 60 s. `--arrivals late`: t2 and t3 arrive after an hour,
   when t0 and t1 hold the pool with jobs of 30-90 minutes (measured from then on); `--preemption off|on|both`:
   the queues' fair-sharing preemption (Never / LessThanOrEqualToFinalShare), both in the same run by default.
   Measures each queue's GPU-hours (preempted runs included) against its weighted fair share of the GPU-hours
   used (water-filling, `jobs.quotas.weighted_fair_shares`): the accuracy is 1 - |actual / fair - 1|, the worst
   queue's is the figure.

    python bench/quota_bench.py                 # both parts, database uf_bench_quotas (created, then dropped)
    python bench/quota_bench.py --quick         # 2,000 jobs, a 6-hour day
    python bench/quota_bench.py --part admission|fairshare
    python bench/quota_bench.py --part admission --database-url postgres://…/ucf_19_bench_quota --keep
    python bench/quota_bench.py --part admission --database-url postgres://…/ucf_19_bench_quota --reuse
        # --keep leaves the seeded jobs in <name>_seed (a template database); --reuse copies it instead of seeding
        # 10,000 jobs again (the same rows, the same clock); --passes N stops after N passes; --profile FILE
        # writes a cProfile of the passes; --interval S: a pass every S simulated seconds (default 10)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.jobs_bench import _admin_dsn, drop_postgres, percentile, recreate_postgres  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/uf_bench_quotas"
H100, A100 = "H100-80GB", "A100-80GB"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def setup(tenant_name: str, inventory: dict):
    from jobs import services
    from tenancy.models import Project, Tenant

    tenant = Tenant.objects.create(name=tenant_name)
    cluster = services.cluster_create(
        tenant=tenant,
        name="bench",
        inventory=inventory,
        prices={"gpu_hour": {t: 2.0 for t in inventory["gpus"]}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
        simulation={"startup_seconds": {"default": 0}, "failure_rate": 0.0, "seed": 1},
    )
    return tenant, cluster, Project


def seed_admission(total: int) -> None:
    """The admission part's cluster, queues and waiting jobs (recorded without a pass)."""
    import time_machine

    from jobs import services

    tenant, cluster, Project = setup(
        "Bench admission", {"gpus": {H100: 400, A100: 200}, "cpu_cores": 20_000, "memory_gib": 200_000}
    )
    projects = []
    for c in range(5):
        for q in range(10):
            # Per cohort: 80 H100 and 40 A100 split over its ten queues (8/4 each); weights 1-4.
            queue = services.cluster_queue_create(
                user=None,
                cluster=cluster,
                data={
                    "name": f"c{c}-q{q}",
                    "cohort": f"cohort-{c}",
                    "nominal_quota": {"gpus": {H100: 8, A100: 4}},
                    "weight": 1 + q % 4,
                    "reclaim_within_cohort": "Never",
                },
            )
            project = Project.objects.create(tenant=tenant, name=f"p{c}-{q}")
            services.local_queue_create(user=None, cluster_queue=queue, name=f"l{c}-{q}", project=project)
            projects.append(project)
    spec = {"kind": "docker", "image": "ghcr.io/acme/trainer", "tag": "1.0"}

    def job(i: int) -> dict:
        gpu_type = H100 if i % 3 else A100
        return {
            "name": f"job-{i}",
            "job_type": "BATCH",
            "tenant": tenant,
            "project": projects[i % len(projects)],
            "resources": {"gpu_type": gpu_type, "gpu_count": (1, 2, 4, 8)[i % 4], "cpu": 4, "memory_gib": 32},
            "spec": spec,
            "priority": (0, 50, 75)[i % 3],
            "duration_seconds": 30 + (i * 7919) % 271,  # 30..300 s
        }

    with time_machine.travel(START, tick=False):
        for first in range(0, total, 1000):
            services.jobs_submit_many(
                cluster=cluster, jobs=[job(i) for i in range(first, min(total, first + 1000))], schedule=False
            )


def admission(*, passes: int | None, profile: str | None, interval: float = 10) -> None:
    """Scheduling passes every `interval` s of a controlled clock until every job was admitted (or `passes` ran)."""
    import cProfile

    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs import services
    from jobs.models import Cluster, Job

    cluster = Cluster.objects.get(name="bench", tenant__name="Bench admission")
    profiler = cProfile.Profile() if profile else None
    waiting_jobs = Job.objects.filter(cluster=cluster, admitted_at__isnull=True, status__in=("PENDING", "QUEUED"))
    total = waiting_jobs.count()
    if passes == 0:
        return
    backend = backend_cpu_reader(connection)
    with time_machine.travel(START, tick=False) as clock:
        seconds, queries, admitted, waiting, cpu, backend_cpu = [], [], [], [], [], []
        while waiting_jobs.exists() and (passes is None or len(seconds) < passes):
            waiting.append(waiting_jobs.count())
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                if profiler:
                    profiler.enable()
                b0, c0, t0 = backend(), time.process_time(), time.perf_counter()
                result = services.cluster_schedule_pass(cluster=cluster, bill_running=False)
                seconds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                backend_cpu.append(backend() - b0)
                if profiler:
                    profiler.disable()
            queries.append(len(ctx.captured_queries))
            admitted.append(result.admitted)
            clock.shift(interval)
            if len(seconds) % 100 == 0:  # so far (a long run on a loaded machine can be read before it ends)
                print(
                    f"SO FAR {len(seconds)} passes: {sum(admitted)} admitted in {sum(seconds):.1f} s of passes "
                    f"({sum(admitted) / sum(seconds):,.0f}/s); pass median {statistics.median(seconds) * 1000:.0f} ms;"
                    f" queries median {statistics.median(queries):.0f}, max {max(queries)};"
                    f" load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            if len(seconds) > 5000:
                raise RuntimeError("jobs were not all admitted")
    if profiler:
        profiler.dump_stats(profile)
    busy = sum(seconds)
    print(
        f"ADMISSION jobs: {total}; queues: 50 in 5 cohorts; passes: {len(seconds)} (every {interval:g} s of simulated"
        " time)"
    )
    print(
        f"SUMMARY admission: {sum(admitted) / busy:,.0f} jobs admitted per second of pass time "
        f"({sum(admitted)} in {busy:.1f} s of passes); first pass ({waiting[0]} waiting): {seconds[0] * 1000:.0f} ms, "
        f"{admitted[0]} admitted, {queries[0]} queries"
    )
    print(
        f"SUMMARY passes: median {statistics.median(seconds) * 1000:.0f} ms, p99 {percentile(seconds, 0.99) * 1000:.0f}"
        f" ms; queries per pass median {statistics.median(queries):.0f}, max {max(queries)}; admitted per pass "
        f"median {statistics.median(admitted):.0f}"
    )
    # CPU time is less sensitive to the machine's load than wall time: this process's and its PostgreSQL backend's.
    later = slice(1, None) if len(seconds) > 1 else slice(None)
    print(
        f"SUMMARY after the first pass: {sum(admitted[later]) / sum(seconds[later]):,.0f} jobs admitted per second of"
        f" pass time ({sum(admitted[later])} in {sum(seconds[later]):.2f} s); pass every {interval:g} s simulated"
    )
    print(
        f"SUMMARY CPU per pass after the first: client median {statistics.median(cpu[later]) * 1000:.0f} ms, database"
        f" backend median {statistics.median(backend_cpu[later]) * 1000:.0f} ms; jobs admitted per CPU second (both):"
        f" {sum(admitted[later]) / max(1e-9, sum(cpu[later]) + sum(backend_cpu[later])):,.0f}"
    )


def backend_cpu_reader(connection):
    """A function that returns the CPU seconds the connection's PostgreSQL backend used so far (NaN when the server
    is not on this machine)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        except OSError:
            return float("nan")

    return read


def held_seconds(job_rows, start: dt.datetime, end: dt.datetime) -> dict:
    """GPU-seconds each queue held within [start, end): every run of every job, the runs a preemption cut short
    included (their length is in the job's resume history: work done since the run resumed)."""
    held: dict = {}
    for queue_name, demand, started, completed, history in job_rows:
        runs = []
        resumed = 0.0
        for entry in history or []:
            stopped = dt.datetime.fromisoformat(entry["at"])
            runs.append((stopped - dt.timedelta(seconds=entry["work_seconds"] - resumed), stopped))
            resumed = entry["resumed_from_seconds"]
        if started is not None:
            runs.append((started, completed or end))
        for run_start, run_end in runs:
            seconds = (min(run_end, end) - max(run_start, start)).total_seconds()
            held[queue_name] = held.get(queue_name, 0.0) + demand * max(0.0, seconds)
    return held


def fairshare(hours: float, *, preemption: bool, late: bool) -> float:
    """A contended day; returns the worst queue's distance from its weighted fair share. With `late`, t2 and t3
    arrive after the first hour, when t0 and t1 hold the whole pool with jobs of 30-90 minutes, and the figure is
    taken from their arrival on (the case fair-sharing preemption is for)."""
    import time_machine
    from django.db import models

    from jobs import services
    from jobs.models import Job
    from jobs.quotas import weighted_fair_shares

    gpus = 64
    strategy = "LessThanOrEqualToFinalShare" if preemption else "Never"
    tenant, cluster, Project = setup(
        f"Bench fair share {strategy} {'late' if late else 'together'}",
        {"gpus": {H100: gpus}, "cpu_cores": 10_000, "memory_gib": 100_000},
    )
    services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "pool", "cohort": "all", "nominal_quota": {"gpus": {H100: gpus}}}
    )
    weights = {"t0": 1, "t1": 1, "t2": 2, "t3": 4}
    projects = {}
    for name, weight in weights.items():
        queue = services.cluster_queue_create(
            user=None,
            cluster=cluster,
            data={
                "name": name,
                "cohort": "all",
                "nominal_quota": {"gpus": {H100: 0}},
                "weight": weight,
                "fair_sharing_preemption": strategy,
            },
        )
        projects[name] = Project.objects.create(tenant=tenant, name=name)
        services.local_queue_create(user=None, cluster_queue=queue, name=f"l-{name}", project=projects[name])
    spec = {"kind": "docker", "image": "ghcr.io/acme/trainer", "tag": "1.0"}
    base, step = (1800, 600) if late else (600, 60)  # 30-90 min or 10-16 min
    # More work than a queue can run in the day even with the whole pool (3.75 GPUs a job on average).
    per_queue = int(gpus * hours * 3600 / (3.75 * (base + 3 * step)) * 1.2)
    arrival = START + dt.timedelta(hours=1 if late else 0)
    end = START + dt.timedelta(hours=hours)
    pass_seconds = []

    def submit(index: int, name: str) -> None:
        items = [
            {
                "name": f"{name}-{n}",
                "job_type": "BATCH",
                "tenant": tenant,
                "project": projects[name],
                "resources": {"gpu_type": H100, "gpu_count": (1, 2, 4, 8)[(n + index) % 4], "cpu": 1},
                "spec": spec,
                "duration_seconds": base + step * (n % 7),
            }
            for n in range(per_queue)
        ]
        for first in range(0, len(items), 1000):
            services.jobs_submit_many(cluster=cluster, jobs=items[first : first + 1000], schedule=False)

    with time_machine.travel(START, tick=False) as clock:
        for index, name in enumerate(weights):
            if not late or name in ("t0", "t1"):
                submit(index, name)
        now = START
        while now < end:
            if late and now == arrival:
                submit(2, "t2")
                submit(3, "t3")
            t0 = time.perf_counter()
            services.cluster_schedule_pass(cluster=cluster, bill_running=False)
            pass_seconds.append(time.perf_counter() - t0)
            clock.shift(60)
            now += dt.timedelta(seconds=60)
    rows = Job.objects.filter(cluster=cluster).filter(
        models.Q(started_at__isnull=False, started_at__lt=end) | models.Q(preemptions__gt=0)
    )
    gpu_seconds = dict.fromkeys(weights, 0.0)
    gpu_seconds.update(
        held_seconds(
            rows.values_list("cluster_queue__name", "demand_gpus", "started_at", "completed_at", "resume_history"),
            arrival,
            end,
        )
    )
    preempted = Job.objects.filter(cluster=cluster, preemptions__gt=0).aggregate(n=models.Sum("preemptions"))["n"]
    used = sum(gpu_seconds.values())
    fair = weighted_fair_shares(used, weights, dict.fromkeys(weights, used))
    median_ms = statistics.median(pass_seconds) * 1000
    print(
        f"FAIRSHARE {'late arrivals' if late else 'all from the start'}, fair-sharing preemption {strategy}: "
        f"{hours:g} h, measured from hour {(arrival - START).total_seconds() / 3600:g}, pool {gpus} GPUs, passes "
        f"every 60 s (median {median_ms:.0f} ms); utilisation {used / (gpus * (end - arrival).total_seconds()):.1%};"
        f" preemptions {preempted or 0}"
    )
    worst = 1.0
    for name, weight in weights.items():
        accuracy = 1 - abs(gpu_seconds[name] / fair[name] - 1)
        worst = min(worst, accuracy)
        print(
            f"  queue {name} weight {weight}: {gpu_seconds[name] / 3600:,.1f} GPU-h, fair share "
            f"{fair[name] / 3600:,.1f} GPU-h, {gpu_seconds[name] / used:.2%} of the GPU-hours (fair "
            f"{fair[name] / used:.2%}), accuracy {accuracy:.2%}"
        )
    print(
        f"SUMMARY fair share ({'late' if late else 'together'}, {strategy}): worst queue within {1 - worst:.2%} of"
        f" its weighted fair share (accuracy {worst:.2%})"
    )
    return 1 - worst


def copy_postgres(template_url: str, url: str) -> None:
    """A fresh copy of a seeded database (PostgreSQL's CREATE DATABASE … TEMPLATE: a file copy, seconds)."""
    import psycopg

    dsn, name = _admin_dsn(url)
    _, template = _admin_dsn(template_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=["admission", "fairshare", "both"], default="both")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the databases (the seeded one as <name>_seed)")
    parser.add_argument("--reuse", action="store_true", help="copy <name>_seed (left by --keep) instead of seeding")
    parser.add_argument(
        "--preemption", choices=["off", "on", "both"], default="both", help="fair-sharing preemption (fairshare)"
    )
    parser.add_argument(
        "--arrivals",
        choices=["together", "late", "both"],
        default="both",
        help="fairshare: every queue from the start, or two of them an hour late (long jobs)",
    )
    parser.add_argument("--passes", type=int, default=None, help="stop after this many admission passes")
    parser.add_argument("--profile", default=None, help="write a cProfile of the admission passes to this file")
    parser.add_argument(
        "--interval", type=float, default=10, help="admission: simulated seconds between passes (300: capacity)"
    )
    args = parser.parse_args()
    seed_url = f"{args.database_url}_seed"
    seeded = args.reuse and args.part == "admission"
    if seeded:
        copy_postgres(seed_url, args.database_url)
    else:
        recreate_postgres(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        if not seeded:
            call_command("migrate", verbosity=0)
        print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f}")
        if args.part in ("admission", "both"):
            if not seeded:
                seed_admission(2_000 if args.quick else 10_000)
                if args.keep:
                    connections.close_all()
                    copy_postgres(args.database_url, seed_url)
            admission(passes=args.passes, profile=args.profile, interval=args.interval)
        if args.part in ("fairshare", "both"):
            for late in {"together": [False], "late": [True], "both": [False, True]}[args.arrivals]:
                for preemption in {"off": [False], "on": [True], "both": [False, True]}[args.preemption]:
                    fairshare(6 if args.quick else 24, preemption=preemption, late=late)
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    finally:
        connections.close_all()
        if not args.keep:
            drop_postgres(args.database_url)


if __name__ == "__main__":
    main()
