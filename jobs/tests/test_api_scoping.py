"""Scoping, conflicts, filters and ordering of the job endpoints, and a TRAINING job's life."""

import pytest

from core.testing import client_for
from jobs import services
from jobs.models import Cluster, Job
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, resources
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def jobs_url(cluster, job=None):
    base = f"/api/v1/clusters/{cluster.pk}/jobs"
    return f"{base}/{job.pk}" if job else base


def submit(cluster, project, name="job", job_type="BATCH", **kwargs):
    kwargs.setdefault("resources", resources(gpus=1))
    if job_type != "SERVICE":
        kwargs.setdefault("duration_seconds", 60)
    return services.job_submit(
        cluster=cluster, name=name, job_type=job_type, tenant=cluster.tenant, project=project, spec=SPEC, **kwargs
    )


@pytest.fixture
def other_admin_client(other_tenant):
    user = UserFactory(username="oscar-other-admin")
    MembershipFactory(user=user, tenant=other_tenant, role=Membership.Role.ADMIN)
    return client_for(user)


# --- another tenant --------------------------------------------------------------------------------------------


def test_other_tenant_cannot_read_a_job(other_client, cluster, project):
    job = submit(cluster, project)
    assert other_client.get(jobs_url(cluster, job)).status_code == 404


def test_other_tenant_cannot_patch_a_job(other_client, cluster, project):
    job = submit(cluster, project)
    response = other_client.patch(jobs_url(cluster, job), {"priority": 99, "labels": {"x": "y"}}, format="json")
    assert response.status_code == 404
    job.refresh_from_db()
    assert (job.priority, job.labels) == (50, {})


def test_other_tenant_cannot_cancel_a_job(other_client, cluster, project):
    job = submit(cluster, project)
    assert other_client.delete(jobs_url(cluster, job)).status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


def test_other_tenants_admin_cannot_patch_a_cluster(other_admin_client, cluster):
    response = other_admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"name": "taken-over"}, format="json")
    assert response.status_code == 404
    cluster.refresh_from_db()
    assert cluster.name == "sim"


def test_other_tenants_admin_cannot_delete_a_cluster(other_admin_client, cluster):
    assert other_admin_client.delete(f"/api/v1/clusters/{cluster.pk}").status_code == 404
    assert Cluster.objects.filter(pk=cluster.pk).exists()


# --- conflicts -------------------------------------------------------------------------------------------------


def test_patch_priority_of_a_finished_job_is_409(member_client, cluster, project, clock):
    job = submit(cluster, project, duration_seconds=5)
    clock.shift(60)
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    response = member_client.patch(jobs_url(cluster, job), {"priority": "HIGH"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "The job is already SUCCEEDED; its priority cannot change."
    job.refresh_from_db()
    assert job.priority == 50


def test_labels_of_a_finished_job_can_still_change(member_client, cluster, project):
    job = submit(cluster, project, resources=resources(gpus=9))  # can never fit: FAILED
    response = member_client.patch(jobs_url(cluster, job), {"labels": {"seen": "yes"}}, format="json")
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.labels == {"seen": "yes"}


# --- filters and ordering --------------------------------------------------------------------------------------


def names(client, cluster, query):
    response = client.get(f"{jobs_url(cluster)}?{query}")
    assert response.status_code == 200, response.json()
    return [job["name"] for job in response.json()["results"]]


def test_created_before_filter(member_client, cluster, project, clock):
    submit(cluster, project, name="early")
    clock.shift(3600)
    submit(cluster, project, name="late")
    assert names(member_client, cluster, "created_before=2026-01-05T09:30:00Z") == ["early"]
    assert names(member_client, cluster, "created_before=2026-01-05T09:00:00Z") == []
    assert sorted(names(member_client, cluster, "created_before=2026-01-05T11:00:00Z")) == ["early", "late"]


@pytest.fixture
def three_jobs(cluster, project, clock):
    submit(cluster, project, name="b-high", priority="HIGH", resources=resources(gpus=4))
    clock.shift(10)
    submit(cluster, project, name="a-low", priority="LOW", resources=resources(gpus=1))
    clock.shift(10)
    submit(cluster, project, name="c-normal", resources=resources(gpus=2))


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("", ["c-normal", "a-low", "b-high"]),  # newest first by default
        ("created_at", ["b-high", "a-low", "c-normal"]),
        ("-created_at", ["c-normal", "a-low", "b-high"]),
        ("priority", ["a-low", "c-normal", "b-high"]),
        ("-priority", ["b-high", "c-normal", "a-low"]),
        ("estimated_cost", ["a-low", "c-normal", "b-high"]),
        ("-queued_at", ["c-normal", "a-low", "b-high"]),
    ],
)
def test_ordering(member_client, cluster, three_jobs, ordering, expected):
    assert names(member_client, cluster, f"ordering={ordering}") == expected


def test_ordering_by_a_field_not_offered_is_a_400_naming_the_valid_ones(member_client, cluster, three_jobs):
    response = member_client.get(f"{jobs_url(cluster)}?ordering=spec")
    assert response.status_code == 400
    assert response.json()["errors"]["ordering"][0].startswith("Cannot order by spec. Order by one of: actual_cost")


# --- a TRAINING job's life -------------------------------------------------------------------------------------


def test_training_job_runs_for_its_duration_then_succeeds(member_client, cluster, project, clock):
    job = submit(cluster, project, name="train", job_type="TRAINING", duration_seconds=300)
    clock.shift(10)  # start-up
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert (job.status, job.started_at) == (Job.Status.RUNNING, T0.replace(second=10))
    clock.shift(299)
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    clock.shift(1)
    services.jobs_advance_all()
    body = member_client.get(jobs_url(cluster, job)).json()
    assert (body["status"], body["started_at"], body["completed_at"]) == (
        "SUCCEEDED",
        "2026-01-05T09:00:10Z",
        "2026-01-05T09:05:10Z",
    )
    assert body["actual_cost"] == body["estimated_cost"]
