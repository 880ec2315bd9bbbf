import pytest
from django.core.cache import cache

from core.testing import client_for
from usecases.tests.factories import curator


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def curator_user(db):
    return curator()


@pytest.fixture
def curator_client(curator_user):
    return client_for(curator_user)


@pytest.fixture
def reader_client(member_client):
    """A tenant member without catalog permissions: reads the catalog, cannot change it."""
    return member_client
