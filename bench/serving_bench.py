"""The request gateway's overhead per request (issue 18): time, SQL queries and Redis round trips.

    python bench/serving_bench.py            # PostgreSQL + Redis (needs both running), 2000 rounds per case
    python bench/serving_bench.py --quick    # 200 rounds: a smoke run

Creates (and drops) its own PostgreSQL database `ucf_18_bench_serving`; the cache is Redis (`BENCH_REDIS_URL`, default
db 9), as in production, so the rate limiter's INCR and GET are real round trips. One simple-rag-v1 deployment
runs on a simulated cluster with a key whose limit is never reached.

Cases, interleaved round by round so machine load hits them alike (medians and p99 from the same run):
- `served_http`: POST /serve/<slug>/v1/chat/completions through Django's test Client: the whole middleware stack,
  the view, the gateway, the JSON response (no network);
- `served_gateway`: `serving.gateway.handle` alone: key lookup, rate limit, routing, dispatch, the traffic count;
- `unauthorized_gateway`: an unknown key (the refusal path: the key lookup, the endpoint lookup, the count);
- `healthz_http`: GET /healthz through the same stack: what any request costs before a view does anything.
Queries and Redis round trips are counted on one request of each outcome after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "ucf_18_bench_serving"


def setup_environment() -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {DB_NAME}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ["DEPLOYMENTS_FIRST_PASS_INLINE"] = "true"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def interleave(cases: dict, rounds: int) -> dict:
    """Run each case once per round, in turn, after 20 warm-up rounds; seconds per call of each."""
    for _ in range(20):
        for call in cases.values():
            call()
    samples: dict = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return samples


class RedisCommands:
    """Counts the commands sent to Redis (each one a round trip: Django's cache sends no pipelines)."""

    def __enter__(self):
        self.client, self.count = redis.Redis, 0
        self.original = self.client.execute_command

        def counted(client, *args, **kwargs):
            self.count += 1
            return self.original(client, *args, **kwargs)

        self.client.execute_command = counted
        return self

    def __exit__(self, *exc):
        self.client.execute_command = self.original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 200 if args.quick else 2000
    setup_environment()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    setup_test_environment()
    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["testserver"]
    from deployments import reconciler
    from deployments import services as deployment_services
    from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster, seed_system_templates
    from serving import gateway, services
    from templates_app.selectors import template_get_for_user
    from tenancy.models import Membership, Project, Tenant
    from tenancy.tests.factories import UserFactory

    seed_system_templates()
    tenant = Tenant.objects.create(name="Bench")
    user = UserFactory(username="bench-admin")
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    project = Project.objects.create(tenant=tenant, name="bench")
    cluster = make_cluster(tenant=tenant, name="bench-sim")

    template = template_get_for_user(user=user, template_id="simple-rag-v1")
    deployment, _ = deployment_services.deployment_create(
        user=user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS, name="bench"
    )
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING", deployment.status_message
    _, secret = services.key_create(user=user, deployment=deployment, name="bench", rate_limit=10**6)
    slug = deployment.endpoint_slug
    http = Client()
    body = json.dumps({"messages": [{"role": "user", "content": "hello"}]})
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def served_http():
        response = http.post(f"/serve/{slug}/v1/chat/completions", body, content_type="application/json", **auth)
        assert response.status_code == 200, response.content

    def served_gateway():
        outcome = gateway.handle(
            slug=slug,
            path="v1/chat/completions",
            method="POST",
            authorization=f"Bearer {secret}",
            body_bytes=len(body),
            now=timezone.now(),
        )
        assert outcome.status == 200, outcome.body

    def unauthorized_gateway():
        outcome = gateway.handle(
            slug=slug, path="v1", method="POST", authorization="Bearer ucfd_nope", body_bytes=0, now=timezone.now()
        )
        assert outcome.status == 401

    def healthz_http():
        http.get("/healthz")

    cases = {
        "served_http": served_http,
        "served_gateway": served_gateway,
        "unauthorized_gateway": unauthorized_gateway,
        "healthz_http": healthz_http,
    }
    samples = interleave(cases, rounds)
    results: dict = {"rounds": rounds}
    for name, values in samples.items():
        results[name] = {
            "median_ms": round(statistics.median(values) * 1000, 3),
            "p99_ms": round(percentile(values, 0.99) * 1000, 3),
        }
    results["served_http_minus_healthz_ms"] = round(
        results["served_http"]["median_ms"] - results["healthz_http"]["median_ms"], 3
    )
    for name in ("served_gateway", "unauthorized_gateway"):
        with CaptureQueriesContext(connection) as queries, RedisCommands() as commands:
            cases[name]()
        results[name]["queries"] = len(queries.captured_queries)
        results[name]["redis_round_trips"] = commands.count
    # A key used within the minute does not write last_used_at; the first request of a minute inserts the traffic
    # row: the steady state above is what a busy endpoint pays.
    results["load_average_1m"] = os.getloadavg()[0]
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))
    connection.close()
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=False)


if __name__ == "__main__":
    main()
