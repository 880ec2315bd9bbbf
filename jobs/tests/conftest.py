import datetime as dt

import pytest
import time_machine

from jobs.tests.factories import ClusterFactory

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    """A stopped clock at T0; `clock.shift(seconds)` moves it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(tenant=tenant, name="sim")


@pytest.fixture
def other_cluster(other_tenant):
    return ClusterFactory(tenant=other_tenant, name="sim-b")
