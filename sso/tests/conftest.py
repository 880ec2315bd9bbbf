"""The single sign-on tests run against a real OpenID Connect provider (node oidc-provider); without Node.js they
skip with the reason."""

from __future__ import annotations

import pytest

from console.tests.browser import browser_page  # noqa: F401  (a fixture, for test_browser)
from sso.provider import forget_provider
from sso.testing import API_AUDIENCE, SCOPES, WEB_CLIENT, TestProvider, node_unavailable
from sso.tokens import forget_tokens

PASSWORD = "provider-pass-1"


@pytest.fixture(scope="session")
def _provider_session():
    reason = node_unavailable()
    if reason:
        pytest.skip(reason)
    provider = TestProvider(redirect_base="http://testserver", ci_groups=["ci-deployers"])
    provider.add_user("alice", password=PASSWORD, groups=["acme-admins"], given_name="Alice", family_name="Admin")
    yield provider
    provider.stop()


def use_provider(settings, provider: TestProvider, **overrides) -> None:
    """Point the settings at `provider` (and forget what an earlier provider's discovery and tokens cached)."""
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = WEB_CLIENT
    settings.OIDC_SCOPES = SCOPES
    settings.OIDC_API_AUDIENCE = API_AUDIENCE
    settings.OIDC_GROUP_ROLES = ""
    for name, value in overrides.items():
        setattr(settings, name, value)
    forget_provider()
    forget_tokens()


@pytest.fixture
def provider(_provider_session, settings):
    """The session's provider, configured as this product's identity provider; alice is back in `acme-admins`."""
    if _provider_session.process is None or _provider_session.process.poll() is not None:
        _provider_session.start()
    _provider_session.set_groups("alice", ["acme-admins"])
    use_provider(settings, _provider_session)
    yield _provider_session
    forget_provider()
    forget_tokens()
