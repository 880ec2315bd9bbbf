import pytest
from django.test import Client


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


from sizing.tests.conftest import shipped_usecases  # noqa: E402, F401  (the shipped SLO catalog, loaded)
