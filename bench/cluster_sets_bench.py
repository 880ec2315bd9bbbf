"""Benchmark of cluster-set placement: how long it takes to choose a member for one job when the set has 5 clusters
with 1,000 waiting jobs each (every member's forecast replays its whole queue), and how many SQL queries it costs.

Measures, on a frozen clock: the median and p90 wall time of `cluster_set_placement` (the preview: nothing written)
and of `cluster_set_submit` (placement + recording the job on the chosen member, no pass), the queries of each, and
for scale one member's `cluster_capacity_check` alone (the per-member part).

    python bench/cluster_sets_bench.py                 # 5 clusters x 1,000 waiting jobs, 21 placements of each kind
    python bench/cluster_sets_bench.py --waiting 200 --repeat 11

The PostgreSQL database named in --database-url is created (dropped first when it exists) and dropped at the end
unless --keep is given.
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

from bench.jobs_bench import drop_postgres, percentile, recreate_postgres  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/uf_bench_sets"
MEMBERS = 5
GPUS = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiting", type=int, default=1_000, help="waiting jobs per member (default 1,000)")
    parser.add_argument("--repeat", type=int, default=21, help="placements timed of each kind (default 21)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    recreate_postgres(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"

    import django

    django.setup()
    import time_machine
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs import selectors, services
    from jobs.models import Job
    from tenancy.models import Project, Tenant

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        call_command("migrate", verbosity=0)
        tenant = Tenant.objects.create(name="Bench")
        project = Project.objects.create(tenant=tenant, name="bench")
        resources = {"gpu_type": "H100-80GB", "gpu_count": 1, "cpu": 4, "memory_gib": 32, "replicas": 1}
        spec = {"kind": "docker", "image": "ghcr.io/acme/trainer", "tag": "1.0"}

        def batch(i: int, prefix: str, member: int = 0) -> dict:
            return {
                "name": f"{prefix}-{i}",
                "job_type": "BATCH",
                "tenant": tenant,
                "project": project,
                "resources": resources,
                "spec": spec,
                "priority": (0, 50, 75)[i % 3],
                "duration_seconds": 600 + ((i + member * 131) * 7919) % 3000,  # each member's queue differs
            }

        clusters = []
        with time_machine.travel(now, tick=False):
            for index in range(MEMBERS):
                cluster = services.cluster_create(
                    tenant=tenant,
                    name=f"region-{index}",
                    inventory={"gpus": {"H100-80GB": GPUS}, "cpu_cores": GPUS * 4, "memory_gib": GPUS * 32},
                    prices={"gpu_hour": {"H100-80GB": 2.0 + index * 0.25}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
                    simulation={"startup_seconds": {"default": 30}, "failure_rate": 0.0, "seed": index},
                )
                # Every GPU busy (admitted by one pass), then the waiting line behind them (recorded, no pass).
                services.jobs_submit_many(cluster=cluster, jobs=[batch(i, "run", index) for i in range(GPUS)])
                for start in range(0, args.waiting, 1000):
                    items = [batch(i, "wait", index) for i in range(start, min(start + 1000, args.waiting))]
                    services.jobs_submit_many(cluster=cluster, jobs=items, schedule=False)
                clusters.append(cluster)
            cluster_set = services.cluster_set_create(tenant=tenant, name="world", clusters=clusters)
            waiting = Job.objects.filter(status__in=["PENDING", "QUEUED"], admitted_at__isnull=True).count()
            print(f"set of {MEMBERS} clusters, {waiting} waiting jobs in all ({args.waiting} per member)")

            def timed(func) -> tuple[list[float], list[int]]:
                seconds, queries = [], []
                for _ in range(args.repeat):
                    with CaptureQueriesContext(connection) as captured:
                        began = time.perf_counter()
                        func()
                        seconds.append(time.perf_counter() - began)
                    queries.append(len(captured.captured_queries))
                return seconds, queries

            job = batch(0, "placed")
            member_s, member_q = timed(
                lambda: selectors.cluster_capacity_check(
                    cluster=clusters[0], resources_list=[resources], job_type="BATCH", now=now
                )
            )
            preview_s, preview_q = timed(
                lambda: selectors.cluster_set_placement(
                    cluster_set=cluster_set,
                    resources_list=[resources],
                    job_type="BATCH",
                    duration_seconds=job["duration_seconds"],
                    now=now,
                )
            )
            for strategy in ("earliest_start", "lowest_cost"):
                placement = selectors.cluster_set_placement(
                    cluster_set=cluster_set,
                    resources_list=[resources],
                    job_type="BATCH",
                    duration_seconds=600,
                    strategy=strategy,
                    now=now,
                )
                print(f"{strategy}: {placement.reason} chosen start {placement.chosen.predicted_start}")
            submit_s, submit_q = timed(
                lambda: services.cluster_set_submit(
                    cluster_set=cluster_set, schedule=False, now=now, **{k: v for k, v in job.items()}
                )
            )
        load = os.getloadavg()
        for label, seconds, queries in (
            ("one member's capacity check", member_s, member_q),
            ("placement across the set (preview)", preview_s, preview_q),
            ("submit to the set (placement + record)", submit_s, submit_q),
        ):
            print(
                f"SUMMARY {label}: median {statistics.median(seconds) * 1000:.0f} ms, "
                f"p90 {percentile(seconds, 0.9) * 1000:.0f} ms, queries {statistics.median(queries):.0f} "
                f"(n={len(seconds)})"
            )
        ratio = statistics.median(preview_s) / statistics.median(member_s)
        print(f"SUMMARY set / one member: {ratio:.1f}x (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    finally:
        connection.close()
        if not args.keep:
            drop_postgres(args.database_url)


if __name__ == "__main__":
    main()
