import pytest
from django.test import Client

from deployments.tests.factories import make_cluster, seed_system_templates


def web_client(user) -> Client:
    """A browser-like client with a logged-in session (the console uses Django's session auth)."""
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def templates(db):
    seed_system_templates()


@pytest.fixture
def cluster(tenant):
    return make_cluster(tenant=tenant, name="sim-a")


@pytest.fixture
def other_cluster(other_tenant):
    return make_cluster(tenant=other_tenant, name="sim-b")


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
