"""The 24 h, 1-minute metrics query and the 30-day SLO through the API (issue 17): what a user's client waits for.

    BENCH_DB=ucf_17_bench python bench/metrics_api_bench.py [--runs 100] [--gc-threshold 700,10,10]
        [--samples FILE]   # append every request's wall ms as JSON lines (label, tree, ms), for an A/B summary
    python bench/metrics_api_bench.py --summarise FILE   # median / p99 per (label, tree) over every round

On the database `bench/observability_bench.py --keep` left (1,000 deployments, bench-0 with its history), a
superuser's GET /api/v1/deployments/{bench-0}/metrics?names=TTFT,request rate,GPU util&step=60 over the last 24 h of
its history, through Django's test client (authentication, the view, the serializer of the query string, the
renderer), after the web process's start-up (config.startup.load_and_freeze). One LLM component, then all 4
components, then GET /api/v1/deployments/{bench-0}/slo: median, p90, p95, p99 (the slowest of 100), CPU of this
process per request, the garbage collector's runs and time per request, the load average. BENCH_TREE runs another
checkout's code (e.g. main before a change) on the same database: alternate rounds of both into one --samples file.
"""

from __future__ import annotations

import argparse
import gc
import json
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
    parser.add_argument("--samples", help="append each request's wall time (ms) to this JSON-lines file")
    parser.add_argument("--summarise", help="print median / p99 per label and tree of a --samples file, and exit")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.summarise)
        return
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{os.environ.get('BENCH_DB', 'ucf_17_bench')}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.chdir(ROOT)  # Celery's Django fix-up puts the working directory first on sys.path: BENCH_TREE's code, not ours
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
    gc_runs = {"n": 0, "ms": 0.0, "t": 0.0}

    def gc_timer(phase, info):  # the collector's own runs during the requests: how many, how long
        if phase == "start":
            gc_runs["t"] = time.perf_counter()
        else:
            gc_runs["n"] += 1
            gc_runs["ms"] += (time.perf_counter() - gc_runs["t"]) * 1000

    gc.callbacks.append(gc_timer)
    metrics = f"/api/v1/deployments/{first.pk}/metrics?names={names}&{window}&step=60"
    cases = (
        ("24 h 1-min metrics through the API, one LLM component", f"{metrics}&component=llm"),
        ("24 h 1-min metrics through the API, all 4 components", metrics),
        ("30-day SLO through the API", f"/api/v1/deployments/{first.pk}/slo"),
    )
    for label, url in cases:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        walls, cpus = [], []
        load = os.getloadavg()[0]
        gc_runs.update(n=0, ms=0.0)
        for _ in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            client.get(url).content  # noqa: B018
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        if args.samples:
            with open(args.samples, "a", encoding="utf-8") as out:
                for ms in walls:
                    out.write(json.dumps({"label": label, "tree": str(ROOT), "ms": ms}) + "\n")
        walls.sort()

        median, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"{label}: median {median:.1f} ms, p90 {at(walls, 0.9):.1f},"
            f" p95 {at(walls, 0.95):.1f}, p99 {at(walls, 0.99):.1f} ms (slowest {walls[-1]:.1f}); CPU {cpu:.1f} ms;"
            f" gc {gc_runs['n'] / args.runs:.1f} runs, {gc_runs['ms'] / args.runs:.2f} ms per request;"
            f" {len(response.content):,} bytes; {args.runs} runs; load {load:.2f} -> {os.getloadavg()[0]:.2f}"
        )


def summarise(path: str) -> None:
    samples: dict[tuple[str, str], list[float]] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            sample = json.loads(line)
            samples.setdefault((sample["label"], sample["tree"]), []).append(sample["ms"])
    for (label, tree), walls in sorted(samples.items()):
        walls.sort()
        print(f"{label} [{tree}]: {len(walls)} requests, median {statistics.median(walls):.1f} ms,"
              f" p99 {at(walls, 0.99):.1f} ms (slowest {walls[-1]:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
