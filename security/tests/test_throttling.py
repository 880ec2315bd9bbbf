import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from rest_framework.test import APIClient

from core.testing import client_for, database_url_for
from tenancy.tests.factories import token_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    cache.clear()
    settings.API_THROTTLE_RATES = {"user": "5/minute", "anon": "3/minute", "expensive": "2/minute"}
    yield settings.API_THROTTLE_RATES
    cache.clear()


def test_a_user_over_the_rate_gets_429_with_retry_after(rates, member_user):
    client = client_for(member_user)
    statuses = [client.get("/api/v1/projects").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    response = client.get("/api/v1/projects")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("Request was throttled.")
    # Another user has their own budget.
    assert (
        client_for(member_user.__class__.objects.create(username="someone-else")).get("/api/v1/tenants").status_code
        == 200
    )


def test_anonymous_callers_are_limited_per_address(rates, db):
    first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    assert [first.get("/api/v1/projects").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert second.get("/api/v1/projects").status_code == 401


def test_expensive_endpoints_have_a_stricter_limit(rates, templates, member_user, project, cluster):
    client = client_for(member_user)
    body = {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": {"model_id": "meta-llama/Llama-3.1-8B-Instruct"},
    }
    statuses = [client.post("/api/v1/deployments/preview", body, format="json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/api/v1/projects").status_code == 200  # the ordinary budget is not spent


CHILD = """
import django
django.setup()
from django.test import Client
client = Client(HTTP_AUTHORIZATION="Token " + {key!r})
print(",".join(str(client.get("/api/v1/projects").status_code) for _ in range(3)))
"""


@pytest.mark.skipif(not settings.REDIS_URL, reason="one budget across processes needs the shared (Redis) cache")
@pytest.mark.django_db(transaction=True)
def test_the_budget_holds_across_processes(rates, member_user):
    """Another web process (a child Python process on the same Redis) spends the same user's budget."""
    key = token_for(member_user)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "API_RATE_USER": rates["user"],
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(key=key)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "200,200,200"
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert [client.get("/api/v1/projects").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.skipif(not settings.REDIS_URL, reason="the one-round-trip window is Redis's")
def test_on_redis_the_user_budget_is_one_script_call_not_a_read_and_a_write(rates, member_user, monkeypatch):
    """The user's window is a Redis list a script trims, counts and appends to: no pickled history is read or
    written (DRF's get + set), and the window slides: a request is allowed again once the oldest leaves it."""
    backend = caches["default"]
    touched = []
    for name in ("get", "set"):
        original = getattr(backend, name)

        def spy(key, *args, _original=original, **kwargs):
            touched.append(key)
            return _original(key, *args, **kwargs)

        monkeypatch.setattr(backend, name, spy)
    client = client_for(member_user)
    with time_machine.travel(datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC), tick=False) as clock:
        statuses = [client.get("/api/v1/projects").status_code for _ in range(6)]
        refused = client.get("/api/v1/projects")
        clock.shift(30)
        assert client.get("/api/v1/projects").status_code == 429
        clock.shift(31)  # 61 s after the first five: they left the window
        assert client.get("/api/v1/projects").status_code == 200
    assert statuses == [200] * 5 + [429]
    # DRF's wait(): (60 s - the oldest's age) / (allowed - in the window + 1) = 60 / 1.
    assert refused["Retry-After"] == "60"
    assert not [key for key in touched if "throttle_user" in key]
