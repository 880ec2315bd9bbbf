"""Fixtures shared by every app's tests: API clients per role, tenants, and a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.utils.nodenames import host_format
from rest_framework.test import APIClient

from core.testing import client_for, database_url_for
from deployments.tests.factories import make_cluster, seed_system_templates
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, ProjectFactory, TenantFactory, UserFactory

ROOT = Path(__file__).resolve().parent


@pytest.fixture
def api_client() -> APIClient:
    """An unauthenticated client."""
    return APIClient()


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Tenant A")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="Tenant B")


@pytest.fixture
def project(tenant):
    return ProjectFactory(tenant=tenant, name="project-a")


@pytest.fixture
def other_project(other_tenant):
    return ProjectFactory(tenant=other_tenant, name="project-b")


def _member(tenant, role: str, username: str):
    user = UserFactory(username=username)
    MembershipFactory(user=user, tenant=tenant, role=role)
    return user


@pytest.fixture
def admin_user(tenant):
    return _member(tenant, Membership.Role.ADMIN, "alice-admin")


@pytest.fixture
def member_user(tenant):
    return _member(tenant, Membership.Role.MEMBER, "bob-member")


@pytest.fixture
def viewer_user(tenant):
    return _member(tenant, Membership.Role.VIEWER, "victor-viewer")


@pytest.fixture
def other_member_user(other_tenant):
    return _member(other_tenant, Membership.Role.MEMBER, "olga-other")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def member_client(member_user):
    return client_for(member_user)


@pytest.fixture
def viewer_client(viewer_user):
    return client_for(viewer_user)


@pytest.fixture
def other_client(other_member_user):
    return client_for(other_member_user)


@pytest.fixture
def superuser_client(superuser):
    return client_for(superuser)


# --- Deployment fixtures shared by the deployments and console tests ---------------------------------------------


@pytest.fixture
def templates(db):
    """The system components and templates, seeded from system_templates/."""
    seed_system_templates()


@pytest.fixture
def cluster(tenant):
    """A simulated cluster with zero start-up time: a stack comes up in one reconcile pass."""
    return make_cluster(tenant=tenant, name="sim-a")


@pytest.fixture
def slow_cluster(tenant):
    return make_cluster(tenant=tenant, name="sim-slow", startup=5)


@pytest.fixture
def other_cluster(other_tenant):
    return make_cluster(tenant=other_tenant, name="sim-b")


# --- A real Celery worker -------------------------------------------------------------------------------------


def broker_reachable() -> str | None:
    """None when the configured broker answers, else the reason."""
    from config.celery_app import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def start_celery_worker(
    *, name: str, concurrency: int = 2, log_name: str = "test-celery-worker.log", queue: str | None = None
):
    """Start `celery worker` as a separate OS process on the test database and the configured broker.

    Returns the Popen once the worker has answered a ping task; `process.log_path` names its log.
    """
    from django.conf import settings
    from django.db import connection

    from config.celery_app import app
    from core.tasks import ping

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    queue = queue or app.conf.task_default_queue
    env["CELERY_TASK_DEFAULT_QUEUE"] = queue  # what the worker itself enqueues goes back to its own queue
    log_path = Path(settings.VAR_DIR) / log_name  # VAR_DIR, not the checkout: runs may point it elsewhere
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "-c",
            str(concurrency),
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{name}-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log_path = log_path
    process.log_file = log
    process.nodename = host_format(f"{name}-{os.getpid()}@%h")
    deadline = time.monotonic() + 60
    while True:
        try:
            assert ping.apply_async(("ready",), queue=queue).get(timeout=10) == "ready"
            return process
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_celery_worker(process)
                raise RuntimeError(f"Celery worker did not start; see {log_path}") from None


def stop_celery_worker(process, *, kill: bool = False) -> None:
    """Stop a worker started by start_celery_worker (SIGKILL with kill=True, as a crash would)."""
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    process.log_file.close()


def wait_until_held(process, *, scheduled: list[str], active: str | None = None, timeout: float = 30.0) -> None:
    """Until the worker holds every task of `scheduled` (received, waiting for its ETA) and runs `active`."""
    from config.celery_app import app

    inspect = app.control.inspect(destination=[process.nodename], timeout=2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = {task["id"] for task in (inspect.active() or {}).get(process.nodename, [])}
        held = {entry["request"]["id"] for entry in (inspect.scheduled() or {}).get(process.nodename, [])}
        if (active is None or active in running) and set(scheduled) <= held:
            return
        time.sleep(0.1)
    raise AssertionError(f"{process.nodename} never held {active} and {scheduled}")


def terminate_within_grace(process, *, grace: float) -> float:
    """SIGTERM, then wait up to `grace` seconds as the kubelet would; the seconds the worker took to exit."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"the worker ignored SIGTERM for {grace}s and had to be killed") from None
    finally:
        process.log_file.close()
    return time.monotonic() - started


def quiesce_celery_worker(process, *, timeout: float = 30.0) -> None:
    """Return once the worker runs, holds and waits on no task, dropping what is still queued or scheduled.

    A test's data is flushed (TRUNCATE) after it; a task still running then would hold locks the flush needs
    (PostgreSQL answers with a deadlock), and a task left for later would run against the next test's data.
    """
    from config.celery_app import app

    inspect = app.control.inspect(destination=[process.nodename], timeout=5)
    deadline = time.monotonic() + timeout
    revoked: set[str] = set()  # a revoked task with an ETA stays listed as scheduled until it is due
    while True:
        app.control.purge()
        listed = (inspect.scheduled() or {}).get(process.nodename, [])
        scheduled = [entry["request"]["id"] for entry in listed if entry["request"]["id"] not in revoked]
        if scheduled:
            app.control.revoke(scheduled, destination=[process.nodename])
            revoked.update(scheduled)
        active, reserved = inspect.active(), inspect.reserved()
        answered = active is not None and reserved is not None
        busy = answered and (active.get(process.nodename) or reserved.get(process.nodename))
        if answered and not busy and not scheduled:
            return
        if time.monotonic() > deadline:
            state = busy or scheduled or "no answer to inspect"
            raise AssertionError(f"the Celery worker is still busy after {timeout}s: {state}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def _celery_worker_session(django_db_setup, django_db_blocker):
    reason = broker_reachable()
    if reason:
        pytest.skip(f"no Celery broker reachable ({reason})")
    from config.celery_app import app

    app.control.purge()  # tasks left by earlier unit tests reference rows that no longer exist
    process = start_celery_worker(name="test-worker")
    yield process
    stop_celery_worker(process)


@pytest.fixture
def celery_worker_process(_celery_worker_session, transactional_db):
    """A real worker (one per session), idle again before this test's data is flushed.

    Tests using it work on committed data (`transactional_db`, requested here so it is torn down after).
    """
    yield _celery_worker_session
    quiesce_celery_worker(_celery_worker_session)
