import datetime as dt
import uuid

import pytest

from jobs import services
from jobs.models import Cluster, Job
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, ClusterFactory, resources

pytestmark = pytest.mark.django_db

INVENTORY = {"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512}


def cluster_body(tenant, **extra):
    return {
        "tenant_id": str(tenant.pk),
        "name": "gpu-east",
        "driver": "simulated",
        "inventory": INVENTORY,
        "prices": {"gpu_hour": {"H100-80GB": 2.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
        "simulation": {"startup_seconds": {"default": 5}, "failure_rate": 0.0, "seed": 0},
        **extra,
    }


def job_body(project, **extra):
    return {
        "name": "trainer",
        "job_type": "BATCH",
        "project_id": str(project.pk),
        "resources": resources(gpus=4),
        "spec": SPEC,
        "duration_seconds": 60,
        **extra,
    }


def jobs_url(cluster, job=None):
    base = f"/api/v1/clusters/{cluster.pk}/jobs"
    return f"{base}/{job.pk}" if job else base


def make_job(cluster, project, name="j", **kwargs):
    kwargs.setdefault("resources", resources(gpus=4))
    kwargs.setdefault("job_type", "BATCH")
    if kwargs["job_type"] != "SERVICE":
        kwargs.setdefault("duration_seconds", 60)
    return services.job_submit(cluster=cluster, name=name, tenant=cluster.tenant, project=project, spec=SPEC, **kwargs)


# --- clusters --------------------------------------------------------------------------------------------------


def test_admin_creates_cluster(admin_client, tenant):
    response = admin_client.post("/api/v1/clusters", cluster_body(tenant))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["driver"], body["status"]) == ("gpu-east", "simulated", "ACTIVE")
    cluster = Cluster.objects.get(pk=body["id"])
    assert (cluster.tenant, cluster.inventory) == (tenant, INVENTORY)


def test_member_cannot_create_cluster(member_client, tenant):
    response = member_client.post("/api/v1/clusters", cluster_body(tenant))
    assert response.status_code == 403
    assert not Cluster.objects.exists()


def test_viewer_cannot_create_cluster(viewer_client, tenant):
    assert viewer_client.post("/api/v1/clusters", cluster_body(tenant)).status_code == 403
    assert not Cluster.objects.exists()


def test_cluster_in_other_tenant_is_field_error(admin_client, other_tenant):
    response = admin_client.post("/api/v1/clusters", cluster_body(other_tenant))
    assert response.status_code == 400
    assert "tenant_id" in response.json()["errors"]


def test_bad_inventory_and_prices_are_field_errors(admin_client, tenant):
    body = cluster_body(
        tenant,
        inventory={"gpus": {"H100-80GB": -1}, "cpu_cores": 8, "memory_gib": 8},
        prices={"gpu_hour": {"H100-80GB": 1}, "cpu_hour": -3},
        simulation={"failure_rate": 2},
    )
    response = admin_client.post("/api/v1/clusters", body)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        "inventory.gpus.H100-80GB",
        "prices.cpu_hour",
        "simulation.failure_rate",
    }
    assert not Cluster.objects.exists()


def test_unknown_driver_is_a_field_error(admin_client, tenant):
    response = admin_client.post("/api/v1/clusters", cluster_body(tenant, driver="slurm"))
    assert response.status_code == 400
    assert "driver" in response.json()["errors"]


def test_duplicate_cluster_name_is_field_error(admin_client, tenant, cluster):
    response = admin_client.post("/api/v1/clusters", cluster_body(tenant, name=cluster.name))
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["A cluster with this name already exists in the tenant."]}


def test_admin_updates_simulation_settings(admin_client, cluster):
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"simulation": {"failure_rate": 0.5}})
    assert response.status_code == 200, response.json()
    cluster.refresh_from_db()
    assert cluster.simulation == {"failure_rate": 0.5}


def test_changing_cluster_tenant_is_read_only(admin_client, cluster, other_tenant):
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"tenant_id": str(other_tenant.pk)})
    assert response.status_code == 400
    assert response.json()["errors"] == {"tenant_id": ["This field is read-only."]}


def test_member_reads_but_cannot_change_cluster(member_client, cluster):
    assert member_client.get(f"/api/v1/clusters/{cluster.pk}").json()["id"] == str(cluster.pk)
    assert member_client.patch(f"/api/v1/clusters/{cluster.pk}", {"name": "x"}).status_code == 403
    cluster.refresh_from_db()
    assert cluster.name == "sim"


def test_other_tenants_cluster_is_404(other_client, cluster):
    assert other_client.get(f"/api/v1/clusters/{cluster.pk}").status_code == 404
    assert other_client.get(f"/api/v1/clusters/{cluster.pk}/schedule").status_code == 404


def test_cluster_with_jobs_cannot_be_deleted(admin_client, cluster, project):
    make_job(cluster, project)
    assert admin_client.delete(f"/api/v1/clusters/{cluster.pk}").status_code == 409
    assert Cluster.objects.filter(pk=cluster.pk).exists()


def test_empty_cluster_is_deleted(admin_client, cluster):
    assert admin_client.delete(f"/api/v1/clusters/{cluster.pk}").status_code == 204
    assert not Cluster.objects.filter(pk=cluster.pk).exists()


def test_cluster_list_is_scoped_and_query_count_bounded(
    member_client, tenant, other_tenant, django_assert_max_num_queries
):
    ClusterFactory.create_batch(20, tenant=tenant)
    ClusterFactory(tenant=other_tenant)
    with django_assert_max_num_queries(3):
        body = member_client.get("/api/v1/clusters").json()
    assert body["count"] == 20


# --- jobs ------------------------------------------------------------------------------------------------------


def test_member_submits_job(member_client, cluster, project, clock):
    response = member_client.post(jobs_url(cluster), job_body(project))
    assert response.status_code == 201, response.json()
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert (body["status"], body["source_type"], body["admitted_at"]) == ("PENDING", "DIRECT", "2026-01-05T09:00:00Z")
    assert body["predicted_start"] == "2026-01-05T09:00:10Z"
    assert (job.cluster, job.tenant, job.project, job.status) == (cluster, cluster.tenant, project, "PENDING")
    assert body["estimated_cost"] == "0.1671"


def test_queued_job_says_why_it_waits_and_when_it_starts(member_client, cluster, project, clock):
    make_job(cluster, project, name="a", resources=resources(gpus=8), duration_seconds=100)
    body = member_client.post(jobs_url(cluster), job_body(project, resources=resources(gpus=2))).json()
    assert body["status"] == "QUEUED"
    assert body["queue_position"] == 1
    assert body["predicted_start"] == "2026-01-05T09:02:00Z"  # a ends at 110 s, then 10 s start-up
    assert body["waiting_reason"].startswith("Waiting for capacity: needs 2 x H100-80GB")


def test_viewer_cannot_submit(viewer_client, cluster, project):
    assert viewer_client.post(jobs_url(cluster), job_body(project)).status_code == 403
    assert not Job.objects.exists()


def test_job_on_other_tenants_cluster_is_404(other_client, cluster, project, other_project):
    assert other_client.post(jobs_url(cluster), job_body(other_project)).status_code == 404
    assert other_client.get(jobs_url(cluster)).status_code == 404
    assert not Job.objects.exists()


def test_project_of_other_tenant_is_field_error(member_client, cluster, other_project):
    response = member_client.post(jobs_url(cluster), job_body(other_project))
    assert response.status_code == 400
    assert "project_id" in response.json()["errors"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"resources": resources(gpus=1, gpu_type="B200")}, "resources.gpu_type"),
        ({"resources": {**resources(), "cpu": -2}}, "resources.cpu"),
        ({"resources": {**resources(), "replicas": 10**6}}, "resources.replicas"),
        (
            {"spec": {"kind": "helm", "repo": "https://c.io", "chart": "x", "values": {"hostNetwork": True}}},
            "spec.values.hostNetwork",
        ),
        ({"spec": {"kind": "helm", "repo": "http://c.io", "chart": "x"}}, "spec.repo"),
        ({"priority": "SOON"}, "priority"),
        ({"job_type": "CRON"}, "job_type"),
        ({"status": "RUNNING"}, "status"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_job_input_is_400_and_nothing_recorded(member_client, cluster, project, extra, path):
    response = member_client.post(jobs_url(cluster), job_body(project, **extra))
    assert response.status_code == 400
    assert path in response.json()["errors"], response.json()
    assert not Job.objects.exists()


def test_job_that_can_never_fit_is_recorded_failed(member_client, cluster, project):
    response = member_client.post(jobs_url(cluster), job_body(project, resources=resources(gpus=8, replicas=2)))
    assert response.status_code == 201
    assert response.json()["status"] == "FAILED"
    assert "16 x H100-80GB" in response.json()["status_message"]


def test_idempotent_submit_by_component_attempt(member_client, cluster, project):
    component = str(uuid.uuid4())
    first = member_client.post(jobs_url(cluster), job_body(project, component_deployment_id=component)).json()
    again = member_client.post(jobs_url(cluster), job_body(project, component_deployment_id=component)).json()
    assert first["id"] == again["id"]
    assert Job.objects.count() == 1


def test_job_filters(member_client, cluster, project, tenant):
    deployment = uuid.uuid4()
    make_job(
        cluster,
        project,
        name="svc",
        job_type="SERVICE",
        labels={"team": "rag", "tier": "gold"},
        source_type="USECASE",
        usecase_deployment_id=deployment,
    )
    make_job(cluster, project, name="batch", labels={"team": "ml"})
    make_job(cluster, project, name="queued", resources=resources(gpus=4))

    def names(query):
        response = member_client.get(f"{jobs_url(cluster)}?{query}")
        assert response.status_code == 200, response.json()
        return sorted(j["name"] for j in response.json()["results"])

    assert names("status=QUEUED") == ["queued"]
    assert names("status=QUEUED&status=PENDING") == ["batch", "queued", "svc"]
    assert names("job_type=SERVICE") == ["svc"]
    assert names("source_type=USECASE") == ["svc"]
    assert names(f"usecase_deployment_id={deployment}") == ["svc"]
    assert names("label=team=rag") == ["svc"]
    assert names("label=team") == ["batch", "svc"]
    assert names("label=team=rag&label=tier=silver") == []
    assert names(f"project_id={project.pk}") == ["batch", "queued", "svc"]
    assert names("created_after=2100-01-01T00:00:00Z") == []
    assert names("q=que") == ["queued"]
    assert [j["name"] for j in member_client.get(f"{jobs_url(cluster)}?ordering=name").json()["results"]] == [
        "batch",
        "queued",
        "svc",
    ]


def test_job_list_query_count_is_constant(member_client, cluster, project, django_assert_max_num_queries):
    for i in range(25):
        make_job(cluster, project, name=f"j{i}", resources=resources(gpus=1))
    with django_assert_max_num_queries(7):
        body = member_client.get(jobs_url(cluster)).json()
    assert body["count"] == 25
    assert sum(1 for j in body["results"] if j["queue_position"]) == 17


def test_jobs_of_one_cluster_are_not_reachable_through_another(member_client, cluster, project, tenant):
    job = make_job(cluster, project)
    second = ClusterFactory(tenant=tenant)
    assert member_client.get(jobs_url(second, job)).status_code == 404
    assert member_client.get(jobs_url(cluster, job)).json()["id"] == str(job.pk)


def test_patch_priority_and_labels(member_client, cluster, project):
    job = make_job(cluster, project)
    response = member_client.patch(jobs_url(cluster, job), {"priority": "HIGH", "labels": {"team": "x"}})
    assert response.status_code == 200, response.json()
    assert (response.json()["priority"], response.json()["labels"]) == (75, {"team": "x"})
    job.refresh_from_db()
    assert (job.priority, job.labels) == (75, {"team": "x"})


def test_patch_read_only_field_is_400_and_changes_nothing(member_client, cluster, project):
    job = make_job(cluster, project)
    response = member_client.patch(jobs_url(cluster, job), {"status": "SUCCEEDED", "priority": 1})
    assert response.status_code == 400
    assert response.json()["errors"] == {"status": ["This field is read-only."]}
    job.refresh_from_db()
    assert (job.status, job.priority) == ("PENDING", 50)


def test_viewer_cannot_patch_or_cancel(viewer_client, cluster, project):
    job = make_job(cluster, project)
    assert viewer_client.patch(jobs_url(cluster, job), {"priority": 1}).status_code == 403
    assert viewer_client.delete(jobs_url(cluster, job)).status_code == 403
    job.refresh_from_db()
    assert (job.status, job.priority) == ("PENDING", 50)


def test_delete_cancels_and_keeps_the_record(member_client, cluster, project, clock):
    job = make_job(cluster, project, job_type="SERVICE")
    clock.shift(30)
    response = member_client.delete(f"{jobs_url(cluster, job)}?reason=done")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_message"]) == ("CANCELLED", "Cancelled: done")
    job.refresh_from_db()
    assert (job.status, job.completed_at) == ("CANCELLED", T0 + dt.timedelta(seconds=30))


def test_cancelling_a_finished_job_is_409(member_client, cluster, project):
    job = make_job(cluster, project, resources=resources(gpus=9))
    response = member_client.delete(jobs_url(cluster, job))
    assert response.status_code == 409
    assert response.json()["detail"] == "The job is already FAILED; there is nothing to cancel."


# --- schedule --------------------------------------------------------------------------------------------------


def test_schedule_shows_actual_and_predicted_starts_and_utilisation(member_client, cluster, project, clock):
    running = make_job(cluster, project, name="running", resources=resources(gpus=6), duration_seconds=100)
    waiting = make_job(cluster, project, name="waiting", resources=resources(gpus=4), duration_seconds=50)
    clock.shift(20)
    services.cluster_schedule_pass(cluster=cluster)
    body = member_client.get(f"/api/v1/clusters/{cluster.pk}/schedule").json()
    jobs = {j["name"]: j for j in body["jobs"]}
    assert jobs["running"]["started_at"] == "2026-01-05T09:00:10Z"
    assert jobs["running"]["expected_end"] == "2026-01-05T09:01:50Z"
    assert jobs["running"]["predicted_start"] is None
    assert jobs["waiting"]["queue_position"] == 1
    assert jobs["waiting"]["predicted_start"] == "2026-01-05T09:02:00Z"
    assert jobs["waiting"]["expected_end"] == "2026-01-05T09:02:50Z"
    assert body["utilisation"]["gpus"]["H100-80GB"] == {"total": 8, "used": 6, "free": 2, "utilisation": 0.75}
    assert body["utilisation"]["gpus"]["A100-80GB"]["used"] == 0
    assert {running.pk, waiting.pk} == set(Job.objects.values_list("pk", flat=True))


def test_schedule_window_excludes_jobs_finished_before_it(member_client, cluster, project, clock):
    make_job(cluster, project, name="old", duration_seconds=5)
    clock.shift(3600 * 5)
    services.cluster_schedule_pass(cluster=cluster)
    body = member_client.get(f"/api/v1/clusters/{cluster.pk}/schedule").json()
    assert body["jobs"] == []
    body = member_client.get(f"/api/v1/clusters/{cluster.pk}/schedule?from=2026-01-05T08:00:00Z").json()
    assert [j["name"] for j in body["jobs"]] == ["old"]


def test_schedule_window_is_validated(member_client, cluster):
    response = member_client.get(f"/api/v1/clusters/{cluster.pk}/schedule?from=yesterday&limit=0")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"from", "limit"}
    response = member_client.get(
        f"/api/v1/clusters/{cluster.pk}/schedule?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
    )
    assert response.json()["errors"] == {"to": ["Must be after `from`."]}


def test_a_running_job_reads_its_cost_up_to_now(member_client, cluster, project, clock):
    body = job_body(project, job_type="SERVICE", resources=resources(gpus=4, cpu=0, memory_gib=0))
    del body["duration_seconds"]
    job_id = member_client.post(jobs_url(cluster), body, format="json").json()["id"]
    clock.shift(10)  # start-up
    services.cluster_schedule_pass(cluster=cluster)
    clock.shift(3600)  # an hour with no pass: nothing stored it
    assert Job.objects.get(pk=job_id).actual_cost == 0
    job = Job.objects.get(pk=job_id)
    assert member_client.get(jobs_url(cluster, job)).json()["actual_cost"] == "10.0000"  # 4 x 2.5 for an hour
