"""Submitting many jobs at once, and submitting without a pass: the pass admits them with the same guarantees."""

import uuid

import pytest
from django.conf import settings

from core.exceptions import Conflict, ValidationError
from jobs import selectors, services
from jobs.models import Cluster, Job
from jobs.tests.factories import SPEC, resources

pytestmark = pytest.mark.django_db


def item(project, name="j", *, gpus=4, priority=50, **extra):
    return {
        "name": name,
        "job_type": "BATCH",
        "tenant": project.tenant,
        "project": project,
        "resources": resources(gpus=gpus),
        "spec": SPEC,
        "priority": priority,
        "duration_seconds": 60,
        **extra,
    }


def body(project, name="j", **extra):
    return {
        "name": name,
        "job_type": "BATCH",
        "project_id": str(project.pk),
        "resources": resources(gpus=4),
        "spec": SPEC,
        "duration_seconds": 60,
        **extra,
    }


def bulk_url(cluster):
    return f"/api/v1/clusters/{cluster.pk}/jobs/bulk"


def test_many_jobs_are_recorded_in_order_and_one_pass_admits_what_fits(cluster, project, clock):
    # 8 H100s: two 4-GPU jobs fit; the third waits.
    jobs = services.jobs_submit_many(cluster=cluster, jobs=[item(project, f"j{n}") for n in range(3)])
    assert [job.name for job in jobs] == ["j0", "j1", "j2"]
    numbers = [job.sequence for job in jobs]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3  # in the order of the items
    assert [job.admitted_at is not None for job in jobs] == [True, True, False]
    assert jobs[2].status == Job.Status.QUEUED
    cluster.refresh_from_db()
    assert cluster.sequence_counter == (0 if settings.IS_POSTGRES else 3)  # PostgreSQL numbers from a sequence


def test_bulk_admits_by_priority_not_by_position(cluster, project, clock):
    items = [item(project, "low", priority=0), item(project, "mid"), item(project, "high", priority=100)]
    jobs = {job.name: job for job in services.jobs_submit_many(cluster=cluster, jobs=items)}
    assert jobs["high"].admitted_at is not None and jobs["mid"].admitted_at is not None
    assert jobs["low"].admitted_at is None


def test_an_invalid_item_records_nothing_and_names_its_index(cluster, project):
    items = [item(project, "ok"), item(project, "", resources={"gpu_count": -1})]
    with pytest.raises(ValidationError) as raised:
        services.jobs_submit_many(cluster=cluster, jobs=items)
    assert "jobs.1.name" in raised.value.errors
    assert any(path.startswith("jobs.1.resources") for path in raised.value.errors)
    assert not Job.objects.exists()
    cluster.refresh_from_db()
    assert cluster.sequence_counter == 0


def test_bulk_on_an_offline_cluster_is_a_conflict(cluster, project):
    Cluster.objects.filter(pk=cluster.pk).update(status=Cluster.Status.OFFLINE)
    cluster.refresh_from_db()
    with pytest.raises(Conflict):
        services.jobs_submit_many(cluster=cluster, jobs=[item(project)])


def test_bulk_is_idempotent_per_component_attempt(cluster, project):
    component = uuid.uuid4()
    (first,) = services.jobs_submit_many(cluster=cluster, jobs=[item(project, component_deployment_id=component)])
    again = services.jobs_submit_many(
        cluster=cluster, jobs=[item(project, component_deployment_id=component), item(project, "new")]
    )
    assert again[0].pk == first.pk
    assert Job.objects.count() == 2


def test_a_repeat_after_the_cluster_was_deactivated_returns_the_recorded_jobs(cluster, project):
    # The reconciler retries a wave after a crash; the cluster went DRAINING meanwhile: the retry gets the jobs it
    # recorded (idempotent), and only an item that would be a new row is refused.
    components = [uuid.uuid4(), uuid.uuid4()]
    items = [item(project, f"c{n}", component_deployment_id=component) for n, component in enumerate(components)]
    first = services.jobs_submit_many(cluster=cluster, jobs=items, schedule=False)
    Cluster.objects.filter(pk=cluster.pk).update(status=Cluster.Status.DRAINING)
    cluster.refresh_from_db()
    again = services.jobs_submit_many(cluster=cluster, jobs=[items[1], items[0]], schedule=False)
    assert [job.pk for job in again] == [first[1].pk, first[0].pk]
    with pytest.raises(Conflict):
        new = item(project, "new", component_deployment_id=uuid.uuid4())
        services.jobs_submit_many(cluster=cluster, jobs=[*items, new])
    with pytest.raises(Conflict):
        services.jobs_submit_many(cluster=cluster, jobs=[item(project, "plain")])
    assert Job.objects.count() == 2


def test_submit_without_a_pass_waits_pending_and_is_forecast_in_order(cluster, project, clock):
    jobs = [
        services.job_submit(cluster=cluster, schedule=False, **item(project, f"j{n}", priority=priority))
        for n, priority in enumerate((50, 50, 100))
    ]
    assert all(job.status == Job.Status.PENDING and job.admitted_at is None for job in jobs)
    forecast = selectors.cluster_forecast(cluster=cluster)
    # The priority-100 job is first in line; the two others share what is left after it, in submission order.
    assert [forecast.jobs[job.pk].queue_position for job in jobs] == [2, 3, 1]
    starts = [forecast.jobs[job.pk].predicted_start for job in jobs]
    services.cluster_schedule_pass(cluster=cluster)
    for job in jobs:
        job.refresh_from_db()
    assert [job.admitted_at is not None for job in jobs] == [True, False, True]
    assert jobs[1].status == Job.Status.QUEUED
    assert starts[0] == starts[2]  # both admitted by the pass, as forecast
    assert starts[1] > starts[0]  # the third waits for one of them to end


def test_a_pass_never_admits_more_than_the_inventory(cluster, project, clock):
    for n in range(10):
        services.job_submit(cluster=cluster, schedule=False, **item(project, f"j{n}", gpus=3))
    services.cluster_schedule_pass(cluster=cluster)
    held = sum(job.demand_gpus for job in Job.objects.filter(admitted_at__isnull=False))
    assert held == 6  # two 3-GPU jobs on 8 H100s


# --- API ------------------------------------------------------------------------------------------------------


def test_member_posts_many_jobs(member_client, cluster, project, clock):
    response = member_client.post(bulk_url(cluster), {"jobs": [body(project, f"j{n}") for n in range(3)]})
    assert response.status_code == 201, response.json()
    jobs = response.json()["jobs"]
    assert [job["name"] for job in jobs] == ["j0", "j1", "j2"]
    assert [job["queue_position"] for job in jobs] == [None, None, 1]
    assert jobs[2]["status"] == "QUEUED" and jobs[2]["predicted_start"]
    assert Job.objects.filter(cluster=cluster).count() == 3


def test_bulk_field_errors_name_the_item(member_client, cluster, project):
    response = member_client.post(bulk_url(cluster), {"jobs": [body(project), body(project, job_type="NOPE")]})
    assert response.status_code == 400
    assert "jobs.1.job_type" in response.json()["errors"]
    assert not Job.objects.exists()


def test_bulk_service_errors_name_the_item(member_client, cluster, project):
    response = member_client.post(bulk_url(cluster), {"jobs": [body(project), body(project, resources={"cpu": -1})]})
    assert response.status_code == 400
    assert any(path.startswith("jobs.1.resources") for path in response.json()["errors"])


def test_bulk_needs_one_to_a_thousand_jobs(member_client, cluster):
    response = member_client.post(bulk_url(cluster), {"jobs": []})
    assert response.status_code == 400
    assert response.json()["errors"] == {"jobs.non_field_errors": ["Ensure this field has at least 1 elements."]}


def test_viewer_cannot_bulk_submit(viewer_client, cluster, project):
    assert viewer_client.post(bulk_url(cluster), {"jobs": [body(project)]}).status_code == 403
    assert not Job.objects.exists()


def test_another_tenants_cluster_is_404(other_client, cluster, project):
    assert other_client.post(bulk_url(cluster), {"jobs": [body(project)]}).status_code == 404


def test_another_tenants_project_is_a_field_error(member_client, cluster, other_project):
    response = member_client.post(bulk_url(cluster), {"jobs": [body(other_project)]})
    assert response.status_code == 400
    assert "jobs.0.project_id" in response.json()["errors"]


def test_bulk_queries_do_not_grow_with_the_jobs(member_client, cluster, project, clock, django_assert_max_num_queries):
    member_client.post(bulk_url(cluster), {"jobs": [body(project, "fill-1"), body(project, "fill-2")]})  # 8 GPUs
    with django_assert_max_num_queries(40) as small:
        member_client.post(bulk_url(cluster), {"jobs": [body(project, f"a{n}") for n in range(2)]})
    with django_assert_max_num_queries(40) as large:
        member_client.post(bulk_url(cluster), {"jobs": [body(project, f"b{n}") for n in range(40)]})
    # SQLite splits a bulk INSERT at its 999 bound parameters: 40 jobs of 40 columns are two statements.
    extra_inserts = 0 if settings.IS_POSTGRES else 1
    assert len(large.captured_queries) == len(small.captured_queries) + extra_inserts
    assert Job.objects.filter(status=Job.Status.QUEUED).count() == 42
