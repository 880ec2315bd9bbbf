"""Benchmark of a Celery worker's graceful shutdown, as Kubernetes stops a worker pod (SIGTERM, SIGKILL after the
grace period): how long after SIGTERM the worker exits, how much of that is the task it was running, and whether
every task it held comes back and runs on the next worker. Real worker processes on the configured Redis broker.

    REDIS_URL=redis://127.0.0.1:6379/6 DATABASE_URL=postgres://postgres@127.0.0.1:5432/ucf_bench \\
        python bench/worker_shutdown_bench.py            # 5 rounds; --rounds N, --task-seconds S, --held K

Per round: a worker (concurrency 1, its own queue) receives K tasks with a countdown (held, unacknowledged, as the
reconciler's next passes are) and then one task of S seconds; SIGTERM while that one runs; a second worker then
runs whatever came back. Reports medians over the rounds and the count of tasks lost (never run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GRACE = 60.0
HELD_COUNTDOWN = 20.0


def one_round(*, task_seconds: float, held: int) -> dict:
    from conftest import start_celery_worker, stop_celery_worker, terminate_within_grace, wait_until_held
    from core.tasks import drain_probe

    queue = f"bench-drain-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    first = start_celery_worker(name="bench-a", concurrency=1, queue=queue, log_name="bench-drain-a.log")
    due = time.time() + HELD_COUNTDOWN
    waiting = [drain_probe.apply_async((0.0, f"held-{n}"), queue=queue, countdown=HELD_COUNTDOWN) for n in range(held)]
    wait_until_held(first, scheduled=[r.id for r in waiting])
    running = drain_probe.apply_async((task_seconds, "running"), queue=queue)
    wait_until_held(first, scheduled=[r.id for r in waiting], active=running.id)
    took = terminate_within_grace(first, grace=GRACE)
    exited = time.time()
    finished = running.get(timeout=5) == "running"
    task_done = running.date_done.timestamp()
    restored = "Restoring" in first.log_path.read_text()
    second = start_celery_worker(name="bench-b", concurrency=1, queue=queue, log_name="bench-drain-b.log")
    ready = time.time()
    ran = 0
    try:
        for result in waiting:
            ran += result.get(timeout=60).startswith("held-")
        last_done = max(result.date_done.timestamp() for result in waiting)
    finally:
        stop_celery_worker(second)
    idle = start_celery_worker(name="bench-idle", concurrency=1, queue=queue, log_name="bench-drain-idle.log")
    idle_stop = terminate_within_grace(idle, grace=GRACE)
    return {
        "exit_after_sigterm": took,
        "finished": finished,
        "restored": restored,
        "lost": held - ran,
        "exit_after_task_done": exited - task_done,
        # after they were due, or after the next worker was ready if that came later
        "held_late": last_done - max(due, ready),
        "idle_stop": idle_stop,
        "exit_code": first.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--task-seconds", type=float, default=3.0)
    parser.add_argument("--held", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        sys.exit("set REDIS_URL: the benchmark measures the Redis broker the chart runs with")
    load = os.getloadavg()[0]
    rounds = [one_round(task_seconds=args.task_seconds, held=args.held) for _ in range(args.rounds)]
    exits = [r["exit_after_sigterm"] for r in rounds]
    print(f"worker shutdown: {args.rounds} rounds, running task {args.task_seconds:g} s, {args.held} held tasks")
    print(f"load average at the start: {load:.2f}")
    print(f"exit after SIGTERM, median: {statistics.median(exits):.2f} s (min {min(exits):.2f}, max {max(exits):.2f})")
    after = statistics.median(r["exit_after_task_done"] for r in rounds)
    print(f"exit after the running task's end (the shutdown itself), median: {after:.2f} s")
    print(f"running task finished in every round: {all(r['finished'] for r in rounds)}")
    print(f"held tasks handed back ('Restoring ...') in every round: {all(r['restored'] for r in rounds)}")
    print(f"tasks lost: {sum(r['lost'] for r in rounds)} of {args.held * args.rounds}")
    print(f"exit code 0 in every round: {all(r['exit_code'] == 0 for r in rounds)}")
    late = statistics.median(r["held_late"] for r in rounds)
    print(f"last held task done after it was due (or the next worker was ready), median: {late:.2f} s")
    print(f"idle worker stop after SIGTERM, median: {statistics.median(r['idle_stop'] for r in rounds):.2f} s")


if __name__ == "__main__":
    main()
