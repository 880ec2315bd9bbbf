"""The API accepts the provider's JWT access tokens (client credentials for CI) beside the product's own tokens."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from sso.models import GroupRoleMapping
from sso.testing import TestProvider, free_port
from sso.tests.conftest import use_provider
from sso.tokens import forget_tokens
from tenancy.models import Membership, Project
from tenancy.tests.factories import TenantFactory, UserFactory, token_for

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def acme(db):
    tenant = TenantFactory(name="Acme")
    GroupRoleMapping.objects.create(group="ci-deployers", tenant=tenant, role=Membership.Role.MEMBER)
    return tenant


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_client_credentials_token_works_with_the_mapped_role(provider, acme):
    client = bearer(provider.client_credentials_token())
    response = client.get("/api/v1/tenants")
    assert response.status_code == 200, response.json()
    assert [(t["name"], t["role"]) for t in response.json()["results"]] == [("Acme", "member")]
    created = client.post("/api/v1/projects", {"tenant_id": str(acme.pk), "name": "from-ci"})
    assert created.status_code == 201, created.json()
    assert Project.objects.filter(tenant=acme, name="from-ci").exists()
    service_account = User.objects.get(username="ucf-ci")
    assert Membership.objects.get(user=service_account).source == Membership.Source.GROUPS
    assert not service_account.has_usable_password()


def test_a_seen_token_costs_one_query_to_authenticate(provider, acme, django_assert_max_num_queries):
    client = bearer(provider.client_credentials_token())
    assert client.get("/api/v1/tenants").status_code == 200
    with django_assert_max_num_queries(4):  # the user, the roles, the count and the page
        assert client.get("/api/v1/tenants").status_code == 200


def test_the_product_s_own_tokens_still_work_beside_them(provider, acme):
    key = token_for(UserFactory(username="tokenuser"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/tenants").status_code == 200


def test_token_from_another_issuer_is_401(provider, acme, caplog):
    stranger = TestProvider(redirect_base="http://testserver", ci_groups=["ci-deployers"])
    try:
        token = stranger.client_credentials_token()
    finally:
        stranger.stop()
    with caplog.at_level(logging.WARNING, logger="sso"):
        response = bearer(token).get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token is signed with a key the identity provider does not publish."
    assert "unknown kid" in caplog.text
    assert not User.objects.filter(username="ucf-ci").exists()


def test_expired_token_is_401(provider, acme):
    token = provider.client_credentials_token()  # valid for 600 s
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        response = bearer(token).get("/api/v1/tenants")
    assert response.status_code == 401
    assert "expired or not yet valid" in response.json()["detail"]


def test_expired_token_is_401_even_after_it_was_accepted(provider, acme):
    client = bearer(provider.client_credentials_token())
    assert client.get("/api/v1/tenants").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert client.get("/api/v1/tenants").status_code == 401


def test_a_deactivated_service_account_is_401_even_with_a_seen_token(provider, acme):
    client = bearer(provider.client_credentials_token())
    assert client.get("/api/v1/tenants").status_code == 200
    User.objects.filter(username="ucf-ci").update(is_active=False)
    response = client.get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."
    assert bearer(provider.client_credentials_token()).get("/api/v1/tenants").status_code == 401


def test_token_for_another_audience_is_401(provider, settings, acme):
    settings.OIDC_API_AUDIENCE = "urn:someone-else"
    response = bearer(provider.client_credentials_token()).get("/api/v1/tenants")
    assert response.status_code == 401


def test_tampered_token_is_401(provider, acme):
    header, payload, signature = provider.client_credentials_token().split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert bearer(forged).get("/api/v1/tenants").status_code == 401


def test_tokens_still_verify_after_the_provider_rotates_its_key(provider, acme, monkeypatch):
    monkeypatch.setattr("sso.provider.JWKS_MIN_REFRESH_SECONDS", 0)
    assert bearer(provider.client_credentials_token()).get("/api/v1/tenants").status_code == 200
    provider.restart()
    assert bearer(provider.client_credentials_token()).get("/api/v1/tenants").status_code == 200


def test_a_key_the_provider_withdrew_is_no_longer_trusted_once_the_keys_are_old(provider, acme, monkeypatch):
    old_key_token = provider.client_credentials_token()
    assert bearer(old_key_token).get("/api/v1/tenants").status_code == 200
    forget_tokens()
    provider.restart()  # the old key is gone from its JWKS
    assert bearer(old_key_token).get("/api/v1/tenants").status_code == 200  # our keys are still fresh: trusted
    monkeypatch.setattr("sso.provider.JWKS_MAX_AGE_SECONDS", 0)
    forget_tokens()
    assert bearer(old_key_token).get("/api/v1/tenants").status_code == 401


def test_group_removed_from_the_client_means_role_gone_with_the_next_token(provider, acme):
    assert bearer(provider.client_credentials_token()).get("/api/v1/tenants").json()["count"] == 1
    GroupRoleMapping.objects.filter(group="ci-deployers").delete()
    assert bearer(provider.client_credentials_token()).get("/api/v1/tenants").json()["count"] == 0


def test_unconfigured_provider_leaves_bearer_tokens_to_others(settings, db):
    settings.OIDC_ISSUER = ""
    response = bearer("a.b.c").get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_unreachable_issuer_is_401_not_500(provider, settings, acme):
    token = provider.client_credentials_token()
    use_provider(settings, provider, OIDC_ISSUER=f"http://127.0.0.1:{free_port()}")
    response = bearer(token).get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("The identity provider cannot be reached")


@pytest.mark.django_db(transaction=True)
def test_parallel_first_requests_with_a_new_token_make_one_user(provider, acme):
    token = provider.client_credentials_token()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def call():
        barrier.wait()
        try:
            statuses.append(bearer(token).get("/api/v1/tenants").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 4
    assert User.objects.filter(username="ucf-ci").count() == 1
    assert Membership.objects.filter(user__username="ucf-ci").count() == 1
