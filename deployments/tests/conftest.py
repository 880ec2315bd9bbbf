import pytest

from deployments.tests.factories import make_cluster, seed_system_templates


@pytest.fixture
def templates(db):
    seed_system_templates()


@pytest.fixture
def cluster(tenant):
    return make_cluster(tenant=tenant, name="sim-a")


@pytest.fixture
def slow_cluster(tenant):
    return make_cluster(tenant=tenant, name="sim-slow", startup=5)


@pytest.fixture
def other_cluster(other_tenant):
    return make_cluster(tenant=other_tenant, name="sim-b")
