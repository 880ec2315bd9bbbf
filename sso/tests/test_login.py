"""Sign-in through the real provider (authorization code + PKCE), driven over HTTP like a browser would."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from sso.models import ExternalIdentity, GroupRoleMapping
from sso.testing import free_port, path_of
from sso.tests.conftest import PASSWORD, use_provider
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def acme(db):
    tenant = TenantFactory(name="Acme")
    GroupRoleMapping.objects.create(group="acme-admins", tenant=tenant, role=Membership.Role.ADMIN)
    GroupRoleMapping.objects.create(group="acme-viewers", tenant=tenant, role=Membership.Role.VIEWER)
    return tenant


def start(client: Client, next_url: str = "/deployments"):
    response = client.get(f"/accounts/oidc/login/?next={next_url}")
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def sign_in(client: Client, provider, username: str = "alice", *, next_url: str = "/deployments"):
    """The whole round trip: our redirect, the provider's login page, our callback. Returns the callback's response."""
    back = provider.sign_in(start(client, next_url), username=username, password=PASSWORD, stop_at="http://testserver")
    return client.get(path_of(back))


def test_authorization_request_uses_pkce_state_and_nonce(provider):
    query = parse_qs(urlsplit(start(Client())).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert query["scope"] == ["openid email profile groups"]


def test_first_sign_in_creates_the_user_from_claims_with_the_mapped_role(provider, acme):
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == 302 and response["Location"] == "/deployments"
    user = User.objects.get(username="alice")
    assert (user.email, user.first_name, user.last_name) == ("alice@example.com", "Alice", "Admin")
    assert not user.has_usable_password()
    membership = Membership.objects.get(user=user)
    assert (membership.tenant, membership.role, membership.source) == (acme, "admin", Membership.Source.GROUPS)
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject, identity.groups) == (provider.issuer, "alice", ["acme-admins"])
    home = client.get("/")
    assert home.status_code == 200
    assert b"Acme" in home.content and b"admin" in home.content


def test_group_removed_means_role_gone_at_next_sign_in_and_hand_made_membership_kept(provider, acme):
    other = TenantFactory(name="Other")
    sign_in(Client(), provider)
    user = User.objects.get(username="alice")
    MembershipFactory(user=user, tenant=other, role=Membership.Role.MEMBER)  # made by hand

    provider.set_groups("alice", ["acme-viewers"])
    sign_in(Client(), provider)
    assert dict(Membership.objects.filter(user=user).values_list("tenant__name", "role")) == {
        "Acme": "viewer",
        "Other": "member",
    }
    provider.set_groups("alice", [])
    sign_in(Client(), provider)
    memberships = Membership.objects.filter(user=user)
    assert [(m.tenant.name, m.source) for m in memberships] == [("Other", Membership.Source.MANUAL)]


def test_configured_mapping_and_superuser_granted_then_revoked_with_the_group(provider, settings, acme):
    settings.OIDC_GROUP_ROLES = "platform=superuser; acme-admins=Acme:member"
    provider.set_groups("alice", ["acme-admins", "platform"])
    sign_in(Client(), provider)
    user = User.objects.get(username="alice")
    assert user.is_superuser and user.is_staff
    # The table says admin, the configuration member: the strongest role wins.
    assert Membership.objects.get(user=user).role == "admin"

    provider.set_groups("alice", ["acme-admins"])
    sign_in(Client(), provider)
    user.refresh_from_db()
    assert not user.is_superuser and not user.is_staff


def test_a_superuser_made_by_hand_stays_one_without_the_group(provider, acme):
    sign_in(Client(), provider)
    User.objects.filter(username="alice").update(is_superuser=True, is_staff=True)
    sign_in(Client(), provider)
    assert User.objects.get(username="alice").is_superuser


def test_existing_local_account_is_not_taken_over(provider, acme):
    UserFactory(username="alice")
    response = sign_in(Client(), provider)
    assert response.status_code == 409
    assert b"A local account named" in response.content
    assert not ExternalIdentity.objects.exists()


def test_existing_local_account_is_linked_when_allowed(provider, settings, acme):
    settings.OIDC_LINK_EXISTING_USERS = True
    local = UserFactory(username="alice")
    assert sign_in(Client(), provider).status_code == 302
    assert ExternalIdentity.objects.get().user == local


def test_state_that_was_never_issued_is_refused(provider):
    response = Client().get("/accounts/oidc/callback/?code=abc&state=forged")
    assert response.status_code == 400
    assert b"This sign-in expired or was started in another browser window" in response.content


def test_nonce_is_checked(provider, acme):
    client = Client()
    location = start(client)
    session = client.session
    for key, value in session.items():
        if key.startswith("_state_"):
            value["data"]["nonce"] = "not-the-one-sent"
            session[key] = value
    session.save()
    back = provider.sign_in(location, username="alice", password=PASSWORD, stop_at="http://testserver")
    response = client.get(path_of(back))
    assert response.status_code == 401
    assert not User.objects.filter(username="alice").exists()


def test_wrong_client_secret_is_explained_on_the_login_page_and_in_the_log(provider, settings, caplog):
    settings.OIDC_CLIENT_SECRET = "not-the-secret"
    client = Client()
    back = provider.sign_in(start(client), username="alice", password=PASSWORD, stop_at="http://testserver")
    with caplog.at_level(logging.WARNING, logger="sso"):
        response = client.get(path_of(back))
    assert response.status_code == 502
    assert b"refused this application&#x27;s client id or secret" in response.content
    assert "invalid_client" in caplog.text


def test_unreachable_issuer_is_explained_not_a_500(provider, settings, caplog):
    use_provider(settings, provider, OIDC_ISSUER=f"http://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.WARNING, logger="sso"):
        response = Client().get("/accounts/oidc/login/")
    assert response.status_code == 502
    assert b"The identity provider cannot be reached" in response.content
    assert b'name="password"' in response.content  # local login still offered
    assert "unreachable: ConnectionError" in caplog.text


def test_clock_skew_is_explained(provider, acme, caplog):
    client = Client()
    back = provider.sign_in(start(client), username="alice", password=PASSWORD, stop_at="http://testserver")
    # This server's clock two hours ahead of the provider's: the fresh ID token looks long expired.
    with time_machine.travel(timezone.now() + timedelta(hours=2)), caplog.at_level(logging.WARNING, logger="sso"):
        response = client.get(path_of(back))
    assert response.status_code == 401
    assert b"the clocks of this server and the identity provider probably differ" in response.content
    assert "clock skew" in caplog.text


def test_sign_in_survives_a_key_rotation(provider, acme):
    sign_in(Client(), provider)  # the JWKS is cached now
    provider.restart()  # a new signing key, a new kid
    assert sign_in(Client(), provider).status_code == 302


def test_logout_ends_the_provider_session_too(provider, acme):
    client = Client()
    sign_in(client, provider)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/session/end"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert client.get("/").status_code == 302  # signed out here


def test_local_logout_without_provider_goes_to_the_login_page(db):
    client = Client()
    client.force_login(UserFactory(username="local"))
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "http://testserver/accounts/login/"


def test_login_page_offers_the_provider_and_password_login_can_be_switched_off(provider, settings):
    page = Client().get("/accounts/login/?next=/deployments").content.decode()
    assert 'href="/accounts/oidc/login/?next=/deployments"' in page and 'name="password"' in page
    settings.LOCAL_LOGIN_ENABLED = False
    settings.AUTHENTICATION_BACKENDS = ["sso.backends.IdentityProviderBackend"]
    UserFactory(username="local")
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with single sign-on" in page and 'name="password"' not in page
    client.post("/accounts/login/", {"username": "local", "password": "pass"})
    assert client.get("/").status_code == 302  # the password was not accepted


def test_admin_login_goes_to_the_console_login_page_with_the_provider(provider):
    response = Client().get("/admin/login/?next=/admin/sso/grouprolemapping/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fsso%2Fgrouprolemapping%2F"


def test_a_superuser_group_signs_in_to_the_admin(provider, settings):
    settings.OIDC_GROUP_ROLES = "platform=superuser"
    provider.set_groups("alice", ["platform"])
    client = Client()
    login_page = client.get("/admin/login/?next=/admin/")["Location"]
    assert login_page == "/accounts/login/?next=%2Fadmin%2F"
    response = sign_in(client, provider, next_url="/admin/")
    assert response["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"Group role mappings" in page.content


def test_sign_in_changes_are_in_the_audit_trail(provider, settings, acme):
    settings.OIDC_GROUP_ROLES = "platform=superuser"
    provider.set_groups("alice", ["acme-admins", "platform"])
    sign_in(Client(), provider)
    provider.set_groups("alice", [])
    sign_in(Client(), provider)
    events = AuditEvent.objects.order_by("pk")
    assert [(e.action, e.object_type, e.request) for e in events] == [
        ("update", "auth.user", "GET /accounts/oidc/callback/"),
        ("create", "tenancy.membership", "GET /accounts/oidc/callback/"),
        ("update", "auth.user", "GET /accounts/oidc/callback/"),
        ("delete", "tenancy.membership", "GET /accounts/oidc/callback/"),
    ]
    assert events[1].changes["role"] == {"before": None, "after": "admin"}
    sign_in(Client(), provider)  # nothing changes: nothing recorded
    assert AuditEvent.objects.count() == 4
