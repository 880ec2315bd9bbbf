import pytest
from django.test import Client

from console.tests.browser import browser_page, browser_user  # noqa: F401  (browser_page: a fixture)


def web_client(user) -> Client:
    """A browser-like client with a logged-in session (the console uses Django's session auth)."""
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def member_web(member_user):
    return web_client(member_user)


@pytest.fixture
def viewer_web(viewer_user):
    return web_client(viewer_user)


@pytest.fixture
def other_web(other_member_user):
    return web_client(other_member_user)


@pytest.fixture
def staff_web(superuser):
    return web_client(superuser)


@pytest.fixture
def deployer(tenant, project):
    """A member of the tenant who logs in through the browser (console.tests.browser.PASSWORD)."""
    return browser_user(tenant, "dana-deployer", is_staff=False)


from sizing.tests.conftest import shipped_usecases  # noqa: E402, F401  (the shipped SLO catalog, loaded)
