import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from core.testing import client_for

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


def test_throttle_state_is_shared_through_the_cache(rates, member_user, settings):
    """Two web processes share Redis: a count written by one is seen by the other (here: the cache itself)."""
    client = client_for(member_user)
    for _ in range(5):
        client.get("/api/v1/projects")
    keys = [key for key in cache._cache.get_client().keys("*") if b"throttle_user" in key] if settings.REDIS_URL else []
    if settings.REDIS_URL:
        assert keys, "the throttle history lives in Redis"
    assert client_for(member_user).get("/api/v1/projects").status_code == 429
