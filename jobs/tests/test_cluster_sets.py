"""Cluster sets: a job goes to the member where it starts first (or costs least), and back to the set when its
cluster goes away while it waits."""

import datetime as dt
from decimal import Decimal

import pytest

from core.exceptions import Conflict, PermissionDenied, ValidationError
from jobs import services
from jobs.models import Cluster, Job
from jobs.placement import EARLIEST_START, LOWEST_COST, Candidate, choose
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, ClusterFactory, resources

pytestmark = pytest.mark.django_db


def cluster(tenant, name, *, h100=8, price=2.5):
    return ClusterFactory(
        tenant=tenant,
        name=name,
        inventory={"gpus": {"H100-80GB": h100}, "cpu_cores": 64, "memory_gib": 512},
        prices={"gpu_hour": {"H100-80GB": price}, "cpu_hour": 0, "memory_gib_hour": 0},
        simulation={"startup_seconds": {"default": 0}},
    )


def submit_to(cluster_set, project, name="train", *, gpus=8, duration=3600, **kwargs):
    return services.cluster_set_submit(
        cluster_set=cluster_set,
        name=name,
        job_type="TRAINING",
        project=project,
        resources=resources(gpus=gpus),
        spec=SPEC,
        duration_seconds=duration,
        now=T0,
        **kwargs,
    )


def fill(target, project, *, seconds):
    """Keep every H100 of `target` busy for `seconds`."""
    return services.job_submit(
        cluster=target,
        name="busy",
        job_type="BATCH",
        tenant=target.tenant,
        project=project,
        resources=resources(gpus=8),
        spec=SPEC,
        duration_seconds=seconds,
        now=T0,
    )


@pytest.fixture
def members(tenant, project):
    """eu: busy for an hour, cheap; us: free now, dearer; ap: free now, dearest."""
    eu = cluster(tenant, "eu", price=1.0)
    us = cluster(tenant, "us", price=2.0)
    ap = cluster(tenant, "ap", price=3.0)
    fill(eu, project, seconds=3600)
    return eu, us, ap


@pytest.fixture
def cluster_set(tenant, members):
    return services.cluster_set_create(tenant=tenant, name="global", clusters=list(members))


def test_ranking_is_pure_and_breaks_ties_by_the_other_criterion():
    a = Candidate("a", "a", "ACTIVE", T0, Decimal(2), Decimal(2))
    b = Candidate("b", "b", "ACTIVE", T0, Decimal(1), Decimal(1))
    c = Candidate("c", "c", "ACTIVE", T0 + dt.timedelta(hours=1), Decimal("0.5"), Decimal("0.5"))
    gone = Candidate("d", "d", "OFFLINE", None, Decimal(0), Decimal(0), excluded="The cluster is OFFLINE.")
    first = choose([a, b, c, gone], EARLIEST_START)
    assert (first.chosen.name, first.runner_up.name) == ("b", "a")
    cheapest = choose([a, b, c, gone], LOWEST_COST)
    assert (cheapest.chosen.name, cheapest.runner_up.name) == ("c", "b")
    assert cheapest.candidates[-1].name == "d"


def test_a_set_sends_a_job_to_the_cluster_where_it_starts_first(cluster_set, members, project):
    us = members[1]
    job = submit_to(cluster_set, project)
    assert job.cluster_id == us.pk  # free now, cheaper than ap; eu is busy for an hour
    assert job.status == Job.Status.RUNNING
    assert job.cluster_set_id == cluster_set.pk
    assert job.placement["chosen"]["name"] == "us"
    assert job.placement["runner_up"]["name"] == "ap"
    assert job.placement["runner_up"]["predicted_start"] == T0.isoformat()
    eu_row = next(c for c in job.placement["candidates"] if c["name"] == "eu")
    assert eu_row["predicted_start"] == (T0 + dt.timedelta(hours=1)).isoformat()


def test_under_the_cost_strategy_the_cheaper_cluster_wins_even_if_it_starts_later(cluster_set, members, project):
    eu = members[0]
    job = submit_to(cluster_set, project, strategy="lowest_cost")
    assert job.cluster_id == eu.pk
    assert job.status == Job.Status.QUEUED
    assert job.placement["runner_up"]["name"] == "us"
    assert Decimal(job.placement["chosen"]["cost"]) == Decimal("8.000000")  # 8 GPUs x 1.0 x 1 h


def test_a_cluster_going_away_sends_its_waiting_work_back_to_the_set(cluster_set, members, project, clock):
    eu, us, ap = members
    waiting = submit_to(cluster_set, project, "waits", strategy="lowest_cost")  # on eu, behind the busy job
    running = submit_to(cluster_set, project, "runs")  # on us, running
    assert (waiting.cluster_id, waiting.status, running.cluster_id) == (eu.pk, "QUEUED", us.pk)
    services.cluster_update(cluster=eu, status=Cluster.Status.OFFLINE)
    waiting.refresh_from_db()
    running.refresh_from_db()
    assert waiting.cluster_id == ap.pk  # us is now full; ap is free
    assert waiting.status == Job.Status.RUNNING
    assert waiting.placement["replaced_from"]["name"] == "eu"
    assert waiting.hourly_rate == Decimal("24.000000")  # ap's prices now
    assert running.cluster_id == us.pk  # what runs stays


def test_when_no_member_can_take_it_the_submission_is_refused(tenant, project, members):
    us = members[1]
    small = services.cluster_set_create(tenant=tenant, name="small", clusters=[us])
    with pytest.raises(ValidationError) as error:
        submit_to(small, project, gpus=16)
    assert "resources" in error.value.errors
    services.cluster_update(cluster=us, status=Cluster.Status.OFFLINE)
    with pytest.raises(Conflict):
        submit_to(small, project)


def test_set_members_must_be_the_tenants_and_only_admins_manage_sets(
    tenant, other_tenant, members, member_user, admin_user
):
    foreign = cluster(other_tenant, "theirs")
    with pytest.raises(ValidationError) as error:
        services.cluster_set_create(tenant=tenant, name="mixed", clusters=[members[0], foreign])
    assert "cluster_ids" in error.value.errors
    with pytest.raises(PermissionDenied):
        services.cluster_set_create(user=member_user, tenant=tenant, name="x", clusters=[members[0]])
    created = services.cluster_set_create(user=admin_user, tenant=tenant, name="x", clusters=[members[0]])
    with pytest.raises(ValidationError) as error:
        services.cluster_set_create(user=admin_user, tenant=tenant, name="x", clusters=[members[1]])
    assert "name" in error.value.errors
    services.cluster_set_update(user=admin_user, cluster_set=created, clusters=[members[1]], strategy="lowest_cost")
    assert list(created.clusters.all()) == [members[1]]
