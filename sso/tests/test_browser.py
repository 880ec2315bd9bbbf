"""Single sign-on in a real browser: Debian's Chromium (Playwright) signs in through the real provider's login page
and lands in the console with the role its groups map to; after a group change and a logout (which ends the
provider's session too), the next sign-in shows the new role."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from console.tests.browser import NO_CHROMIUM, shot
from sso.models import GroupRoleMapping
from sso.provider import forget_provider
from sso.testing import TestProvider, free_port, node_unavailable
from sso.tests.conftest import PASSWORD, use_provider
from tenancy.models import Membership
from tenancy.tests.factories import TenantFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    NO_CHROMIUM,
]


@pytest.fixture
def live_provider(live_server, settings):
    reason = node_unavailable()
    if reason:
        pytest.skip(reason)
    provider = TestProvider(redirect_base=live_server.url)
    use_provider(settings, provider, OIDC_PROVIDER_NAME="Test IdP")
    yield provider
    provider.stop()


def sign_in(page) -> None:
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_through_the_provider_lands_in_the_console_with_the_mapped_role(
    live_server, live_provider, browser_page
):
    acme = TenantFactory(name="Acme")
    GroupRoleMapping.objects.create(group="acme-admins", tenant=acme, role=Membership.Role.ADMIN)
    GroupRoleMapping.objects.create(group="acme-viewers", tenant=acme, role=Membership.Role.VIEWER)
    live_provider.add_user("alice", password=PASSWORD, groups=["acme-admins"], given_name="Alice")
    page, url = browser_page, live_server.url

    page.goto(f"{url}/deployments")
    expect(page).to_have_url(f"{url}/accounts/login/?next=/deployments")
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, f"sso-01-login-{width}")
    sign_in(page)
    expect(page).to_have_url(f"{url}/deployments")
    page.goto(f"{url}/")
    tenants = page.locator("section", has=page.get_by_role("heading", name="Your tenants"))
    expect(tenants).to_contain_text("Acme admin")
    expect(tenants).to_contain_text("from your identity provider's groups")
    shot(page, "sso-02-home-admin-1440")

    # The provider moves alice to the viewers; logging out ends its session, so the next sign-in asks again.
    live_provider.set_groups("alice", ["acme-viewers"])
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(rf"^{url}/accounts/login/(\?state=[\w-]+)?$"))
    sign_in(page)
    expect(page).to_have_url(f"{url}/")
    expect(tenants).to_contain_text("Acme viewer")
    page.set_viewport_size({"width": 390, "height": 800})
    shot(page, "sso-03-home-viewer-390")


def test_an_unreachable_provider_is_explained_on_the_login_page(live_server, settings, browser_page):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    settings.OIDC_CLIENT_ID, settings.OIDC_PROVIDER_NAME = "ucf-web", "Test IdP"
    forget_provider()
    page, url = browser_page, live_server.url
    page.goto(f"{url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.get_by_role("alert")).to_contain_text("The identity provider cannot be reached right now")
    expect(page.get_by_label("Password")).to_be_visible()  # local login still offered
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, f"sso-04-provider-unreachable-{width}")
