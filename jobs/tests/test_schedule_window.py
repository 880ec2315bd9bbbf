"""The schedule lists the jobs that run, or are predicted to run, within its window."""

import datetime as dt

import pytest

from jobs import services
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, resources

pytestmark = pytest.mark.django_db


def submit(cluster, project, name, job_type="BATCH", **kwargs):
    return services.job_submit(
        cluster=cluster, name=name, job_type=job_type, tenant=cluster.tenant, project=project, spec=SPEC, **kwargs
    )


def iso(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def names(client, cluster, start: float, end: float) -> list[str]:
    response = client.get(f"/api/v1/clusters/{cluster.pk}/schedule", {"from": iso(start), "to": iso(end)})
    assert response.status_code == 200, response.json()
    return [job["name"] for job in response.json()["jobs"]]


@pytest.fixture
def timeline(cluster, project, clock):
    """`runs` holds every H100 from 0 s (start 10 s, end 110 s); `waits` is predicted to be admitted at 110 s,
    start at 120 s and end at 170 s."""
    submit(cluster, project, "runs", resources=resources(gpus=8), duration_seconds=100)
    submit(cluster, project, "waits", resources=resources(gpus=2), duration_seconds=50)
    clock.shift(20)
    services.cluster_schedule_pass(cluster=cluster)


def test_schedule_carries_the_cluster_id_as_id(member_client, cluster):
    body = member_client.get(f"/api/v1/clusters/{cluster.pk}/schedule").json()
    assert body["id"] == body["cluster_id"] == str(cluster.pk)


def test_window_before_a_running_job_was_submitted_excludes_it(member_client, cluster, timeline):
    assert names(member_client, cluster, -7200, -3600) == []


def test_window_after_a_running_batch_ends_excludes_it(member_client, cluster, timeline):
    assert names(member_client, cluster, 150, 3600) == ["waits"]


def test_window_before_a_queued_job_is_predicted_to_start_excludes_it(member_client, cluster, timeline):
    assert names(member_client, cluster, -3600, 100) == ["runs"]


def test_window_spanning_both_lists_both(member_client, cluster, timeline):
    assert sorted(names(member_client, cluster, 100, 130)) == ["runs", "waits"]


def test_waiting_job_with_no_predicted_start_is_listed_from_now_on(member_client, cluster, project, clock):
    submit(cluster, project, "service", job_type="SERVICE", resources=resources(gpus=8))
    submit(cluster, project, "behind", resources=resources(gpus=1), duration_seconds=10)
    clock.shift(20)
    assert sorted(names(member_client, cluster, 0, 3600)) == ["behind", "service"]
    assert names(member_client, cluster, -3600, 10) == ["service"]


def test_schedule_query_count_does_not_grow_with_jobs(
    member_client, cluster, project, clock, django_assert_max_num_queries
):
    for i in range(30):
        submit(cluster, project, f"j{i}", resources=resources(gpus=1), duration_seconds=60 + i)
    clock.shift(20)
    with django_assert_max_num_queries(7):  # +1: the cluster's quotas
        body = member_client.get(f"/api/v1/clusters/{cluster.pk}/schedule").json()
    assert len(body["jobs"]) == 30
