"""The quota endpoints: /cluster-queues, /local-queues, a queue's usage over time and a job's preemption events —
roles, tenant scoping (another tenant's object is a 404), field-level 400s, filters, pagination, query counts."""

import pytest

from jobs import services
from jobs.models import ClusterQueue, LocalQueue
from jobs.tests.factories import ClusterFactory, submit_job
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

H100 = "H100-80GB"


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(
        tenant=tenant,
        name="gpu",
        inventory={"gpus": {H100: 16}, "cpu_cores": 256, "memory_gib": 2048},
        simulation={"startup_seconds": {"default": 0}},
    )


@pytest.fixture
def other_cluster(other_tenant):
    return ClusterFactory(tenant=other_tenant, name="theirs")


def create(client, cluster, name="team-a", gpus=8, **extra):
    body = {"cluster_id": str(cluster.pk), "name": name, "nominal_quota": {"gpus": {H100: gpus}}, **extra}
    return client.post("/api/v1/cluster-queues", body, format="json")


def test_an_admin_creates_a_queue_and_reads_its_usage(admin_client, cluster, project):
    response = create(
        admin_client,
        cluster,
        cohort="research",
        weight="2",
        borrowing_limit={"gpus": {H100: 4}},
        fair_sharing_preemption="LessThanOrEqualToFinalShare",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["cohort"] == "research" and body["weight"] == "2.000"
    assert body["fair_sharing_preemption"] == "LessThanOrEqualToFinalShare"
    assert body["usage"]["resources"][0] == {
        "resource": H100,
        "nominal": 8,
        "used": 0,
        "borrowed": 0,
        "available": 8,
        "lendable": 8,
    }
    queue = ClusterQueue.objects.get(pk=body["id"])
    services.local_queue_create(user=None, cluster_queue=queue, name="everyone")
    submit_job(cluster, project, "j", gpus=3)
    usage = admin_client.get(f"/api/v1/cluster-queues/{queue.pk}").json()["usage"]
    assert usage["resources"][0]["used"] == 3 and usage["admitted"] == 1


def test_members_and_viewers_cannot_manage_queues(member_client, viewer_client, cluster):
    assert create(member_client, cluster).status_code == 403
    assert create(viewer_client, cluster).status_code == 403
    assert not ClusterQueue.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"nominal_quota": {"gpus": {"B200": 8}}}, "nominal_quota.gpus.B200"),
        ({"nominal_quota": {"gpus": {H100: -1}}}, f"nominal_quota.gpus.{H100}"),
        ({"nominal_quota": {"cpu_cores": "many"}}, "nominal_quota.cpu_cores"),
        ({"nominal_quota": {"disks": 3}}, "nominal_quota"),
        ({"lending_limit": {"gpus": {H100: 9}}}, f"lending_limit.gpus.{H100}"),
        ({"weight": "0"}, "weight"),
        ({"reclaim_within_cohort": "Sometimes"}, "reclaim_within_cohort"),
        ({"fair_sharing_preemption": "Always"}, "fair_sharing_preemption"),
        ({"name": "Team A"}, "name"),
        ({"cohort": "Not A Name"}, "cohort"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_400s_by_field(admin_client, cluster, extra, field):
    body = {"cluster_id": str(cluster.pk), "name": "team-a", "nominal_quota": {"gpus": {H100: 8}}}
    body.update(extra)
    response = admin_client.post("/api/v1/cluster-queues", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()


def test_a_duplicate_name_is_a_409(admin_client, cluster):
    assert create(admin_client, cluster).status_code == 201
    assert create(admin_client, cluster).status_code == 409


def test_another_tenants_queues_are_404_and_their_clusters_unknown(admin_client, other_cluster, cluster):
    theirs = services.cluster_queue_create(
        user=None, cluster=other_cluster, data={"name": "theirs", "nominal_quota": {"gpus": {}}}
    )
    local = services.local_queue_create(user=None, cluster_queue=theirs, name="theirs-local")
    assert admin_client.get(f"/api/v1/cluster-queues/{theirs.pk}").status_code == 404
    assert admin_client.patch(f"/api/v1/cluster-queues/{theirs.pk}", {"weight": "3"}, format="json").status_code == 404
    assert admin_client.delete(f"/api/v1/cluster-queues/{theirs.pk}").status_code == 404
    assert admin_client.get(f"/api/v1/cluster-queues/{theirs.pk}/usage").status_code == 404
    assert admin_client.get(f"/api/v1/local-queues/{local.pk}").status_code == 404
    assert admin_client.get("/api/v1/cluster-queues").json()["count"] == 0
    assert admin_client.get("/api/v1/local-queues").json()["count"] == 0
    response = create(admin_client, other_cluster)
    assert response.status_code == 400 and "cluster_id" in response.json()["errors"]
    body = {"name": "mine", "cluster_queue_id": str(theirs.pk)}
    response = admin_client.post("/api/v1/local-queues", body, format="json")
    assert response.status_code == 400 and "cluster_queue_id" in response.json()["errors"]


def test_update_changes_the_quota_and_admits_what_now_fits(
    admin_client, cluster, project, django_capture_on_commit_callbacks
):
    queue = services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "team-a", "nominal_quota": {"gpus": {H100: 2}}}
    )
    services.local_queue_create(user=None, cluster_queue=queue, name="everyone")
    submit_job(cluster, project, "first", gpus=2)
    waiting = submit_job(cluster, project, "second", gpus=2)
    assert waiting.status == "QUEUED"
    with django_capture_on_commit_callbacks(execute=True):  # the pass that follows a change
        response = admin_client.patch(
            f"/api/v1/cluster-queues/{queue.pk}", {"nominal_quota": {"gpus": {H100: 4}}}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["nominal_quota"] == {"gpus": {H100: 4}}
    waiting.refresh_from_db()
    assert waiting.status == "RUNNING"
    response = admin_client.patch(f"/api/v1/cluster-queues/{queue.pk}", {"cluster_id": str(cluster.pk)}, format="json")
    assert response.status_code == 400


def test_list_filters_paginates_and_costs_a_constant_number_of_queries(
    admin_client, cluster, project, django_assert_max_num_queries
):
    for i in range(6):
        queue = services.cluster_queue_create(
            user=None,
            cluster=cluster,
            data={"name": f"q{i}", "cohort": "even" if i % 2 == 0 else "odd", "nominal_quota": {"gpus": {H100: 2}}},
        )
        services.local_queue_create(
            user=None, cluster_queue=queue, name=f"l{i}", project=ProjectFactory(tenant=cluster.tenant, name=f"p{i}")
        )
    with django_assert_max_num_queries(7):
        body = admin_client.get("/api/v1/cluster-queues?limit=4").json()
    assert body["count"] == 6 and len(body["results"]) == 4
    assert admin_client.get("/api/v1/cluster-queues?cohort=even").json()["count"] == 3
    assert admin_client.get(f"/api/v1/cluster-queues?cluster_id={cluster.pk}&q=q1").json()["count"] == 1
    with django_assert_max_num_queries(5):
        body = admin_client.get(f"/api/v1/local-queues?cluster_id={cluster.pk}").json()
    assert body["count"] == 6 and body["results"][0]["cluster_queue_name"].startswith("q")


def test_local_queue_for_a_project_and_scoping_of_the_project(admin_client, cluster, project, other_project):
    queue = services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "team-a", "nominal_quota": {"gpus": {H100: 2}}}
    )
    body = {"name": "mine", "cluster_queue_id": str(queue.pk), "project_id": str(project.pk)}
    response = admin_client.post("/api/v1/local-queues", body, format="json")
    assert response.status_code == 201, response.json()
    assert submit_job(cluster, project, "j").cluster_queue_id == queue.pk
    body = {"name": "theirs", "cluster_queue_id": str(queue.pk), "project_id": str(other_project.pk)}
    assert admin_client.post("/api/v1/local-queues", body, format="json").status_code == 400
    again = {"name": "again", "cluster_queue_id": str(queue.pk), "project_id": str(project.pk)}
    assert admin_client.post("/api/v1/local-queues", again, format="json").status_code == 409
    local = LocalQueue.objects.get(name="mine")
    assert admin_client.delete(f"/api/v1/local-queues/{local.pk}").status_code == 204


def test_usage_over_time_and_its_window_checks(admin_client, cluster, project, clock):
    queue = services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "team-a", "nominal_quota": {"gpus": {H100: 8}}}
    )
    services.local_queue_create(user=None, cluster_queue=queue, name="everyone")
    submit_job(cluster, project, "j", gpus=4, job_type="BATCH", duration_seconds=5400)
    clock.shift(7200)
    services.cluster_schedule_pass(cluster=cluster)
    body = admin_client.get(f"/api/v1/cluster-queues/{queue.pk}/usage?step_hours=1").json()
    (gpu,) = body["gpu_types"]
    assert gpu["gpu_type"] == H100 and gpu["gpu_hours"] == 6.0  # 4 GPUs for 1.5 h
    assert sum(gpu["series"]) == pytest.approx(6.0)
    assert admin_client.get(f"/api/v1/cluster-queues/{queue.pk}/usage?step_hours=0").status_code == 400
    bad = admin_client.get(f"/api/v1/cluster-queues/{queue.pk}/usage?from=2026-01-09T00:00:00Z&to=2026-01-01T00:00:00Z")
    assert bad.status_code == 400 and "to" in bad.json()["errors"]


def test_a_preemption_shows_in_both_jobs_events(admin_client, cluster, project, clock):
    queue = services.cluster_queue_create(
        user=None,
        cluster=cluster,
        data={"name": "team-a", "nominal_quota": {"gpus": {H100: 8}}, "within_cluster_queue": "LowerPriority"},
    )
    services.local_queue_create(user=None, cluster_queue=queue, name="everyone")
    low = submit_job(cluster, project, "low", gpus=8, priority="LOW")
    high = submit_job(cluster, project, "high", gpus=8, priority="HIGH")
    events = admin_client.get(f"/api/v1/clusters/{cluster.pk}/jobs/{low.pk}/events").json()["results"]
    assert [e["kind"] for e in events] == ["PREEMPTED"] and events[0]["other_job_id"] == str(high.pk)
    events = admin_client.get(f"/api/v1/clusters/{cluster.pk}/jobs/{high.pk}/events").json()["results"]
    assert [e["kind"] for e in events] == ["PREEMPTOR"]
    job = admin_client.get(f"/api/v1/clusters/{cluster.pk}/jobs/{low.pk}").json()
    assert job["preemptions"] == 1 and job["cluster_queue_id"] == str(queue.pk)
