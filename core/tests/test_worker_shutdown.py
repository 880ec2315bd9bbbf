"""Graceful shutdown of a real Celery worker process, as Kubernetes stops a pod: SIGTERM, then SIGKILL after the
grace period. The worker finishes the task it runs, puts back the tasks it had reserved, and loses nothing."""

from __future__ import annotations

import os
import uuid

import pytest

from conftest import (
    broker_reachable,
    start_celery_worker,
    stop_celery_worker,
    terminate_within_grace,
    wait_until_held,
)
from core.tasks import drain_probe

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GRACE_SECONDS = 30  # what the test gives the worker, like terminationGracePeriodSeconds


@pytest.fixture
def redis_broker(settings):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs the Redis broker (set REDIS_URL): it is what the chart runs and what restores on shutdown")
    reason = broker_reachable()
    if reason:
        pytest.skip(f"no Celery broker reachable ({reason})")
    queue = f"drain-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    yield queue
    from config.celery_app import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


def test_sigterm_finishes_the_running_task_and_requeues_the_held_ones(redis_broker):
    """The reconciler's passes are tasks with a countdown: a worker holds them, unacknowledged, until they are due.
    A pod stopped in between must hand them back, not take them down with it."""
    queue = redis_broker
    first = start_celery_worker(name="drain-a", concurrency=1, queue=queue, log_name="test-drain-a.log")
    try:
        held = [drain_probe.apply_async((0.1, f"held-{n}"), queue=queue, countdown=15) for n in range(3)]
        wait_until_held(first, scheduled=[result.id for result in held])
        running = drain_probe.apply_async((4, "running"), queue=queue)
        wait_until_held(first, active=running.id, scheduled=[result.id for result in held])
    except BaseException:
        stop_celery_worker(first, kill=True)  # never leave a worker behind on the shared broker
        raise

    took = terminate_within_grace(first, grace=GRACE_SECONDS)

    assert first.returncode == 0, first.log_path.read_text()[-2000:]
    assert 2 < took < GRACE_SECONDS  # it waited for the running task (about 4 s), not for the held ones' ETA
    assert running.get(timeout=5) == "running"  # finished during the warm shutdown, its result stored
    log = first.log_path.read_text()
    assert "warm shutdown" in log.lower()
    assert "Restoring 3 unacknowledged message(s)" in log  # handed back to Redis as the worker stopped
    assert [result.state for result in held] == ["PENDING"] * 3  # not run, not failed

    second = start_celery_worker(name="drain-b", concurrency=1, queue=queue, log_name="test-drain-b.log")
    try:  # back on the queue at once (not after the broker's visibility timeout): the next worker runs them
        assert [result.get(timeout=30) for result in held] == ["held-0", "held-1", "held-2"]
    finally:
        stop_celery_worker(second)
    received_by_second = second.log_path.read_text()
    assert all(result.id in received_by_second for result in held)


def test_an_idle_worker_stops_at_once(redis_broker):
    worker = start_celery_worker(name="drain-idle", concurrency=2, queue=redis_broker, log_name="test-drain-idle.log")
    took = terminate_within_grace(worker, grace=GRACE_SECONDS)
    assert worker.returncode == 0
    assert took < 10  # a rolling update of idle workers is not held up by the grace period
