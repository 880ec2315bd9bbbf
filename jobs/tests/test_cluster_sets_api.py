"""/api/v1/cluster-sets: CRUD, preview and submit; tenant-scoped (another tenant's set is a 404)."""

from decimal import Decimal

import pytest

from jobs.models import ClusterSet, Job
from jobs.tests.factories import SPEC, ClusterFactory, resources

pytestmark = pytest.mark.django_db
URL = "/api/v1/cluster-sets"


def member_clusters(tenant):
    a = ClusterFactory(tenant=tenant, name="a", simulation={"startup_seconds": {"default": 0}})
    b = ClusterFactory(
        tenant=tenant,
        name="b",
        simulation={"startup_seconds": {"default": 0}},
        prices={"gpu_hour": {"H100-80GB": 1.0, "A100-80GB": 1.0}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
    )
    return a, b


@pytest.fixture
def cluster_set(tenant):
    a, b = member_clusters(tenant)
    cluster_set = ClusterSet.objects.create(tenant=tenant, name="pool", strategy="lowest_cost")
    cluster_set.clusters.set([a, b])
    return cluster_set


@pytest.fixture
def other_set(other_tenant):
    cluster_set = ClusterSet.objects.create(tenant=other_tenant, name="theirs")
    cluster_set.clusters.set([ClusterFactory(tenant=other_tenant, name="t")])
    return cluster_set


def job_body(project, **extra):
    return {
        "name": "train",
        "job_type": "TRAINING",
        "project_id": str(project.pk),
        "resources": resources(gpus=2),
        "spec": SPEC,
        "duration_seconds": 600,
        **extra,
    }


def test_admin_creates_a_set_and_reads_its_members(admin_client, tenant):
    a, b = member_clusters(tenant)
    body = {"tenant_id": str(tenant.pk), "name": "eu+us", "cluster_ids": [str(a.pk), str(b.pk)]}
    response = admin_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["strategy"] == "earliest_start"
    assert sorted(m["name"] for m in data["clusters"]) == ["a", "b"]
    assert set(ClusterSet.objects.get(pk=data["id"]).clusters.values_list("name", flat=True)) == {"a", "b"}


def test_create_answers_field_errors(admin_client, tenant, other_tenant):
    mine = ClusterFactory(tenant=tenant)
    theirs = ClusterFactory(tenant=other_tenant)
    body = {"tenant_id": str(tenant.pk), "name": "x", "cluster_ids": [str(mine.pk), str(theirs.pk)], "extra": 1}
    errors = admin_client.post(URL, body, format="json").json()["errors"]
    assert set(errors) == {"extra"}
    body.pop("extra")
    errors = admin_client.post(URL, {**body, "strategy": "fastest"}, format="json").json()["errors"]
    assert set(errors) >= {"cluster_ids", "strategy"}  # another tenant's cluster does not exist for the caller
    response = admin_client.post(URL, {**body, "cluster_ids": []}, format="json")
    assert response.status_code == 400
    assert "cluster_ids" in response.json()["errors"]


def test_member_cannot_manage_sets_but_submits_to_them(member_client, viewer_client, cluster_set, project):
    patch = member_client.patch(f"{URL}/{cluster_set.pk}", {"name": "renamed"}, format="json")
    assert patch.status_code == 403
    assert viewer_client.post(f"{URL}/{cluster_set.pk}/jobs", job_body(project), format="json").status_code == 403
    response = member_client.post(f"{URL}/{cluster_set.pk}/jobs", job_body(project), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["cluster_set_id"] == str(cluster_set.pk)
    assert body["placement"]["chosen"]["name"] == "b"  # the cheaper one: the set's strategy is lowest_cost
    assert body["placement"]["runner_up"]["name"] == "a"
    assert Job.objects.get(pk=body["id"]).cluster.name == "b"


def test_submit_with_the_earliest_start_strategy_and_a_field_error(member_client, cluster_set, project):
    url = f"{URL}/{cluster_set.pk}/jobs"
    b = cluster_set.clusters.get(name="b")
    busy = {"job_type": "BATCH", "resources": resources(gpus=8), "duration_seconds": 3600}
    member_client.post(f"/api/v1/clusters/{b.pk}/jobs", {**job_body(project), **busy}, format="json")
    response = member_client.post(url, job_body(project, strategy="earliest_start"), format="json")
    assert response.json()["placement"]["chosen"]["name"] == "a"  # b is cheaper but busy for an hour
    assert response.json()["placement"]["runner_up"]["name"] == "b"
    response = member_client.post(url, job_body(project, strategy="nope", duration_seconds=-1), format="json")
    assert response.status_code == 400
    assert "strategy" in response.json()["errors"]


def test_preview_shows_the_choice_and_the_runner_up_and_writes_nothing(member_client, cluster_set):
    body = {"job_type": "BATCH", "resources": resources(gpus=8), "duration_seconds": 3600}
    response = member_client.post(f"{URL}/{cluster_set.pk}/preview", body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["chosen"]["name"], data["runner_up"]["name"]) == ("b", "a")
    assert Decimal(data["chosen"]["cost"]) < Decimal(data["runner_up"]["cost"])
    assert data["chosen"]["predicted_start"] is not None
    too_big = {**body, "resources": resources(gpus=64)}
    response = member_client.post(f"{URL}/{cluster_set.pk}/preview", too_big, format="json")
    assert response.status_code == 400
    assert "resources" in response.json()["errors"]
    assert not Job.objects.exists()


def test_another_tenants_set_is_404_everywhere(member_client, admin_client, other_set, project):
    base = f"{URL}/{other_set.pk}"
    assert member_client.get(base).status_code == 404
    assert admin_client.patch(base, {"name": "x"}, format="json").status_code == 404
    assert admin_client.delete(base).status_code == 404
    assert member_client.post(f"{base}/preview", {"job_type": "BATCH"}, format="json").status_code == 404
    assert member_client.post(f"{base}/jobs", job_body(project), format="json").status_code == 404
    assert ClusterSet.objects.filter(pk=other_set.pk).exists()


def test_list_is_scoped_paginated_filtered_and_query_count_bounded(
    member_client, tenant, other_set, django_assert_max_num_queries
):
    clusters = [ClusterFactory(tenant=tenant) for _ in range(3)]
    for index in range(30):
        cluster_set = ClusterSet.objects.create(tenant=tenant, name=f"set-{index:02}")
        cluster_set.clusters.set(clusters)
    with django_assert_max_num_queries(4):
        body = member_client.get(URL, {"limit": 10}).json()
    assert body["count"] == 30
    assert len(body["results"]) == 10
    assert len(body["results"][0]["clusters"]) == 3
    assert member_client.get(URL, {"q": "set-1"}).json()["count"] == 10
    assert member_client.get(URL, {"cluster_id": str(clusters[0].pk)}).json()["count"] == 30
    assert member_client.get(URL, {"strategy": "bogus"}).status_code == 400


def test_admin_updates_and_deletes_a_set(admin_client, cluster_set, tenant):
    response = admin_client.patch(f"{URL}/{cluster_set.pk}", {"strategy": "earliest_start"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["strategy"] == "earliest_start"
    assert len(response.json()["clusters"]) == 2
    response = admin_client.patch(f"{URL}/{cluster_set.pk}", {"tenant_id": str(tenant.pk)}, format="json")
    assert response.status_code == 400
    assert admin_client.delete(f"{URL}/{cluster_set.pk}").status_code == 204
    assert not ClusterSet.objects.filter(pk=cluster_set.pk).exists()
