from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from security.models import ApiToken
from security.services import token_digest
from tenancy.tests.factories import token_for

pytestmark = pytest.mark.django_db


def with_key(key: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {key}")


def test_a_created_token_is_shown_once_and_stored_hashed(member_client, member_user):
    response = member_client.post("/api/v1/tokens", {"name": "ci", "scope": "write"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    key = body["key"]
    assert key.startswith("ucf_") and body["prefix"] == key[:12]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.digest == token_digest(key) and key not in token.digest
    assert body["expires_at"] is not None  # 90 days by default
    listed = member_client.get("/api/v1/tokens").json()["results"]
    assert [row["name"] for row in listed] == ["ci"]
    assert "key" not in listed[0]
    assert with_key(key).get("/api/v1/projects").status_code == 200


def test_token_records_last_use_at_most_once_a_minute(member_user):
    key = token_for(member_user)
    client = with_key(key)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.get("/api/v1/projects", REMOTE_ADDR="10.1.2.3")
        first = ApiToken.objects.get(user=member_user).last_used_at
        assert first is not None
        clock.shift(timedelta(seconds=30))
        client.get("/api/v1/projects")
        assert ApiToken.objects.get(user=member_user).last_used_at == first
        clock.shift(timedelta(seconds=31))
        client.get("/api/v1/projects")
        assert ApiToken.objects.get(user=member_user).last_used_at > first
    assert ApiToken.objects.get(user=member_user).last_used_ip == "127.0.0.1"


def test_expired_token_is_refused(member_user):
    key = token_for(member_user, expires_in_days=1)
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        response = with_key(key).get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["detail"] == "Token expired."


def test_revoked_token_is_refused_at_once(member_client, member_user):
    created = member_client.post("/api/v1/tokens", {"name": "laptop"}, format="json").json()
    assert with_key(created["key"]).get("/api/v1/projects").status_code == 200
    assert member_client.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    response = with_key(created["key"]).get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json() == {"detail": "Token revoked.", "errors": {}}
    assert member_client.get(f"/api/v1/tokens/{created['id']}").json()["is_active"] is False


def test_read_only_token_reads_but_every_write_is_403(member_user, tenant):
    client = with_key(token_for(member_user, scope="read"))
    assert client.get("/api/v1/projects").status_code == 200
    response = client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "nope"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token is read-only."
    assert client.delete("/api/v1/tokens/00000000-0000-0000-0000-000000000000").status_code == 403
    assert not tenant.projects.filter(name="nope").exists()


def test_unknown_key_is_401_with_the_token_challenge(db):
    response = with_key("ucf_not-a-real-key").get("/api/v1/projects")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_user_cannot_see_or_revoke_another_users_token(member_user, other_member_user):
    token_for(other_member_user, name="theirs")
    theirs = ApiToken.objects.get(user=other_member_user)
    client = with_key(token_for(member_user))
    assert client.get(f"/api/v1/tokens/{theirs.pk}").status_code == 404
    assert client.delete(f"/api/v1/tokens/{theirs.pk}").status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


def test_duplicate_live_name_is_a_field_error(member_client):
    assert member_client.post("/api/v1/tokens", {"name": "ci"}, format="json").status_code == 201
    response = member_client.post("/api/v1/tokens", {"name": "ci"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]


def test_token_without_expiry_and_bad_expiry(member_client):
    response = member_client.post("/api/v1/tokens", {"name": "forever", "expires_in_days": None}, format="json")
    assert response.status_code == 201 and response.json()["expires_at"] is None
    response = member_client.post("/api/v1/tokens", {"name": "x", "expires_in_days": 0}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["expires_in_days"]


def test_token_list_is_bounded_in_queries(member_user, django_assert_max_num_queries):
    for index in range(5):
        token_for(member_user, name=f"t{index}")
    client = with_key(token_for(member_user, name="me"))
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/tokens")
    assert response.json()["count"] == 6


def test_create_api_token_command_prints_a_working_key(member_user, capsys):
    call_command("create_api_token", member_user.username, "--name", "cli", "--scope", "read")
    key = capsys.readouterr().out.strip()
    assert with_key(key).get("/api/v1/projects").status_code == 200
    assert ApiToken.objects.get(user=member_user, name="cli").scope == "read"


def test_read_only_token_may_call_a_post_that_writes_nothing(templates, member_user, project, cluster):
    client = with_key(token_for(member_user, scope="read"))
    body = {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": {"model_id": "meta-llama/Llama-3.1-8B-Instruct"},
    }
    assert client.post("/api/v1/deployments/preview", body, format="json").status_code == 200
    assert client.post("/api/v1/deployments", body, format="json").status_code == 403


def _token_queries(captured) -> list[str]:
    return [query["sql"] for query in captured if "security_apitoken" in query["sql"]]


@pytest.fixture
def token_cache(settings):
    """Tokens cached as with Redis (the default there); the tests' process is the only one, so a local cache does."""
    settings.TOKEN_CACHE_SECONDS = 60


def test_without_a_shared_cache_every_request_reads_the_token(member_user, settings):
    # The embedded default's cache is per process: a token revoked by another process must be refused at once here.
    settings.TOKEN_CACHE_SECONDS = 0
    client = with_key(token_for(member_user))
    assert client.get("/api/v1/projects").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/v1/projects").status_code == 200
    assert len(_token_queries(second.captured_queries)) == 1  # the token with its user; last use is under a minute
    ApiToken.objects.filter(user=member_user).update(revoked_at=timezone.now())  # as another process would
    assert client.get("/api/v1/projects").json()["detail"] == "Token revoked."


def test_a_token_is_read_from_the_database_once_then_from_the_cache(member_user, token_cache):
    client = with_key(token_for(member_user))
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/projects").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/v1/projects").status_code == 200
    assert len(_token_queries(first.captured_queries)) == 2  # the token with its user, the last-use write
    assert _token_queries(second.captured_queries) == []
    assert len(second.captured_queries) == len(first.captured_queries) - 2


def test_the_cached_token_holds_no_password_hash_and_a_save_of_its_user_keeps_the_password(member_user, token_cache):
    from django.core.cache import cache

    from security.services import _token_cache_key, token_authenticate

    member_user.set_password("a long passphrase")
    member_user.save()
    key = token_for(member_user)
    token_authenticate(key=key)
    cached = cache.get(_token_cache_key(token_digest(key)))
    assert "password" not in cached.user.__dict__  # deferred: not in the cache
    user = token_authenticate(key=key).user  # from the cache
    user.first_name = "Renamed"
    user.save()  # as a view that saves request.user would
    member_user.refresh_from_db()
    assert member_user.first_name == "Renamed"
    assert member_user.check_password("a long passphrase")
    assert user.check_password("a long passphrase")  # read from the database when asked for


def test_a_cached_token_is_refused_at_once_when_its_user_changes_or_goes(member_user, token_cache):
    key = token_for(member_user)
    client = with_key(key)
    assert client.get("/api/v1/projects").status_code == 200  # now cached
    member_user.is_active = False
    member_user.save()  # as the admin's user form does
    assert client.get("/api/v1/projects").json()["detail"] == "User inactive or deleted."
    member_user.is_active = True
    member_user.save()
    assert client.get("/api/v1/projects").status_code == 200
    member_user.delete()  # its tokens go with it (the cascade)
    assert client.get("/api/v1/projects").json()["detail"] == "Invalid token."


def test_a_cached_token_deleted_or_changed_in_the_admin_is_refused_at_once(member_user, token_cache):
    client = with_key(token_for(member_user))
    assert client.get("/api/v1/projects").status_code == 200
    token = ApiToken.objects.get(user=member_user)
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    assert client.get("/api/v1/projects").json()["detail"] == "Token expired."
    token.delete()
    assert client.get("/api/v1/projects").json()["detail"] == "Invalid token."
