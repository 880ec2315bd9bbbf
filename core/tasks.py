"""Tasks that prove the task queue works end to end."""

import time

from celery import shared_task

DRAIN_PROBE_MAX_SECONDS = 60.0


@shared_task(name="core.ping")
def ping(value: str = "pong") -> str:
    """Echo a value back: the round trip the integration test and health tooling use."""
    return value


@shared_task(name="core.drain_probe")
def drain_probe(seconds: float, token: str) -> str:
    """Hold a worker process for `seconds` (at most a minute), then echo `token`: a task in flight to check that a
    worker's shutdown (a pod's SIGTERM) finishes it or puts it back on the queue, never drops it."""
    time.sleep(min(max(float(seconds), 0.0), DRAIN_PROBE_MAX_SECONDS))
    return token
