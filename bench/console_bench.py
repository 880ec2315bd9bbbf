"""Web console page-load benchmark (issue 9): server time to render the deployments pages with 1,000 deployments.

    python bench/console_bench.py                 # PostgreSQL + Redis, 1,000 deployments (needs both running)
    python bench/console_bench.py --sqlite        # the embedded default: a SQLite file in a temporary VAR_DIR
    python bench/console_bench.py --quick         # 100 deployments, 30 requests per page: a smoke run

PostgreSQL mode creates (and drops) its own database `uf_bench_console`. One simple-rag-v1 deployment is made
through deployments.services and reconciled once on a zero start-up simulated cluster (so it is RUNNING with four
components, four jobs and its events); it is then cloned with bulk_create into `--count` deployments (a mix of
RUNNING, DEPLOYING, FAILED and DELETED), each with its own component rows, jobs (accrued cost) and events.

Each page is requested through Django's test Client in process with a logged-in session: the whole middleware,
view, selector and template stack, without a network or WSGI server. Reported per page: median and p99 of the
wall time per request, the median thread CPU time, and SQL queries per request. Target: < 2 s per page.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import fresh_postgres  # noqa: E402

DB_NAME = "uf_bench_console"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def setup_environment(args) -> None:
    if args.sqlite:
        os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="uf-console-bench-")
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    else:
        fresh_postgres(DB_NAME)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"


def clone_deployments(source, count: int) -> None:
    """`count - 1` copies of a reconciled deployment: rows, jobs and events, in a few bulk inserts."""
    from django.db import transaction
    from django.utils import timezone

    from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment, endpoint_slug_for
    from jobs.models import Job

    rng = random.Random(9)
    components = list(source.components.select_related("job"))
    events = list(source.events.all())
    statuses = ["RUNNING"] * 7 + ["DEPLOYING", "FAILED", "DELETED"]
    now = timezone.now()
    batch = 200
    with transaction.atomic():
        for start in range(1, count, batch):
            deployments, rows, jobs, new_events = [], [], [], []
            for i in range(start, min(count, start + batch)):
                deployment = UseCaseDeployment(
                    **{f.attname: getattr(source, f.attname) for f in UseCaseDeployment._meta.concrete_fields},
                )
                deployment.id = uuid.uuid4()
                deployment.name = f"bench-{i:05d}"
                deployment.status = rng.choice(statuses)
                deployment.idempotency_key = None
                deployment.endpoint_slug = endpoint_slug_for(deployment.name, deployment.id)
                deployments.append(deployment)
                for row in components:
                    job = Job(**{f.attname: getattr(row.job, f.attname) for f in Job._meta.concrete_fields})
                    job.id = uuid.uuid4()
                    clone = ComponentDeployment(
                        **{f.attname: getattr(row, f.attname) for f in ComponentDeployment._meta.concrete_fields}
                    )
                    clone.id = uuid.uuid4()
                    clone.deployment_id = deployment.id
                    clone.job_id = job.id
                    job.usecase_deployment_id = deployment.id
                    job.component_deployment_id = clone.id
                    job.actual_cost = rng.randint(1, 5000) / 100
                    jobs.append(job)
                    rows.append(clone)
                for event in events:
                    new_events.append(
                        DeploymentEvent(
                            deployment_id=deployment.id, kind=event.kind, message=event.message, data=event.data
                        )
                    )
            UseCaseDeployment.objects.bulk_create(deployments)
            Job.objects.bulk_create(jobs)
            ComponentDeployment.objects.bulk_create(rows)
            DeploymentEvent.objects.bulk_create(new_events)
        # spread creation times over 30 days, as a real list would have them
        for i, pk in enumerate(UseCaseDeployment.objects.values_list("pk", flat=True)):
            if i % 50 == 0:
                UseCaseDeployment.objects.filter(pk=pk).update(created_at=now - timedelta(hours=i % 720))


def measure(client, path: str, rounds: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        assert client.get(path).status_code == 200, path
    walls, cpus = [], []
    for _ in range(rounds):
        cpu = time.thread_time()
        wall = time.perf_counter()
        response = client.get(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
        assert response.status_code == 200, path
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    return {
        "path": path,
        "median_ms": statistics.median(walls) * 1000,
        "p99_ms": percentile(walls, 99) * 1000,
        "cpu_median_ms": statistics.median(cpus) * 1000,
        "queries": len(ctx.captured_queries),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.count, args.rounds = 100, 30
    setup_environment(args)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from deployments import reconciler, services
    from deployments.models import DeploymentEvent, UseCaseDeployment
    from deployments.tests.factories import make_cluster
    from templates_app.selectors import template_get_for_user
    from tenancy.models import Membership, Project, Tenant

    call_command("migrate", verbosity=0)
    call_command("seed_templates", verbosity=0, stdout=io.StringIO())
    user = get_user_model().objects.create_user("bench-console", password="x")
    tenant = Tenant.objects.create(name="Bench console")
    Membership.objects.create(user=user, tenant=tenant, role="admin")
    project = Project.objects.create(tenant=tenant, name="bench")
    cluster = make_cluster(tenant=tenant, name="bench", startup=0)
    template = template_get_for_user(user=user, template_id="simple-rag-v1")

    seeded = time.perf_counter()
    source, _ = services.deployment_create(
        user=user,
        template=template,
        project=project,
        cluster=cluster,
        parameters={"model_id": "meta-llama/Llama-3.1-8B-Instruct"},
        name="bench-00000",
    )
    reconciler.deployment_reconcile(deployment_id=source.pk)
    source.refresh_from_db()
    assert source.status == "RUNNING", source.status
    clone_deployments(source, args.count)
    seed_seconds = time.perf_counter() - seeded
    assert UseCaseDeployment.objects.count() == args.count

    client = Client()
    client.force_login(user)
    last_event = DeploymentEvent.objects.filter(deployment=source).latest("id").id
    pages = [
        "/deployments",
        "/deployments?status=RUNNING",
        "/deployments?q=bench-009&template=simple-rag-v1",
        f"/deployments?page={max(1, args.count // 50)}",
        f"/deployments/{source.pk}",
        f"/deployments/{source.pk}/live?after={last_event}",
        "/usecases",
    ]
    results = {
        "database": connection.vendor,
        "deployments": args.count,
        "rounds": args.rounds,
        "seed_seconds": round(seed_seconds, 2),
        "load_average": os.getloadavg()[0],
        "pages": [measure(client, path, args.rounds) for path in pages],
    }
    print(json.dumps(results, indent=2))
    if not args.sqlite:
        connection.close()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {DB_NAME}"])


if __name__ == "__main__":
    main()
