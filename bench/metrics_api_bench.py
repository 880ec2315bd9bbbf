"""The 24 h, 1-minute metrics query through the API (issue 17): what a user's client waits for, not only the query.

    BENCH_DB=ucf_17_bench python bench/metrics_api_bench.py [--runs 100] [--gc-threshold 700,10,10]

On the database `bench/observability_bench.py --keep` left (1,000 deployments, bench-0 with its history), a
superuser's GET /api/v1/deployments/{bench-0}/metrics?names=TTFT,request rate,GPU util&step=60 over the last 24 h of
its history, through Django's test client (authentication, the view, the serializer of the query string, the
renderer), after the web process's start-up (config.startup.load_and_freeze). One LLM component, then all 4
components: median, p90, p95, p99 (the slowest of 100), CPU of this process per request, the load average.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_TREE", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))


def at(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--gc-threshold", help="gc.set_threshold after start-up, e.g. 50000,20,20")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{os.environ.get('BENCH_DB', 'ucf_17_bench')}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from config.startup import load_and_freeze
    from deployments.models import UseCaseDeployment
    from observability.models import MetricRollup

    load_and_freeze()
    if args.gc_threshold:
        gc.set_threshold(*map(int, args.gc_threshold.split(",")))
    first = UseCaseDeployment.objects.get(name="bench-0")
    end = MetricRollup.objects.filter(deployment=first).order_by("-start").values_list("start", flat=True).first()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-metrics-api", defaults={"is_superuser": True, "is_staff": True}
    )
    client = APIClient()
    client.force_authenticate(user)
    names = "vllm:time_to_first_token_seconds,vllm:request_success_total,DCGM_FI_DEV_GPU_UTIL"
    window = f"start={(end - timedelta(hours=24)).isoformat()}&end={end.isoformat()}".replace("+", "%2B")
    for label, component in (("one LLM component", "&component=llm"), ("all 4 components", "")):
        url = f"/api/v1/deployments/{first.pk}/metrics?names={names}&{window}&step=60{component}"
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        walls, cpus = [], []
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            client.get(url).content  # noqa: B018
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        walls.sort()

        median, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"24 h 1-min metrics through the API, {label}: median {median:.1f} ms, p90 {at(walls, 0.9):.1f},"
            f" p95 {at(walls, 0.95):.1f}, p99 {at(walls, 0.99):.1f} ms (slowest {walls[-1]:.1f}); CPU {cpu:.1f} ms;"
            f" {len(response.content):,} bytes; {args.runs} runs; load {load:.2f} -> {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
