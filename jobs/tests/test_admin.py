"""The admin edits jobs only in priority and labels, and checks clusters as the API does."""

import json

import pytest

from jobs import services
from jobs.models import Cluster, Job
from jobs.tests.factories import SPEC, resources, submit_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def submit(cluster, project, name="job", gpus=4, **kwargs):
    return submit_job(cluster, project, name, gpus=gpus, **kwargs)


def job_url(job, action="change"):
    return f"/admin/jobs/job/{job.pk}/{action}/"


# --- jobs ------------------------------------------------------------------------------------------------------


def test_admin_lists_and_filters_jobs(staff_client, cluster, project):
    submit(cluster, project, "alpha", gpus=1)
    response = staff_client.get("/admin/jobs/job/?status__exact=PENDING&q=alp")
    assert response.status_code == 200
    assert b"alpha" in response.content
    assert staff_client.get("/admin/jobs/cluster/").status_code == 200


def test_admin_action_cancels_jobs(staff_client, cluster, project):
    job = submit(cluster, project, "alpha", gpus=1)
    response = staff_client.post(
        "/admin/jobs/job/", {"action": "cancel_jobs", "_selected_action": [str(job.pk)]}, follow=True
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.status_message.startswith("Cancelled: cancelled by root")


def test_admin_cannot_add_or_delete_jobs(staff_client, cluster, project):
    job = submit(cluster, project)
    assert staff_client.get("/admin/jobs/job/add/").status_code == 403
    assert staff_client.get(job_url(job, "delete")).status_code == 403
    assert Job.objects.filter(pk=job.pk).exists()


def test_admin_changes_priority_and_labels_but_nothing_else(staff_client, cluster, project):
    job = submit(cluster, project)
    assert staff_client.get(job_url(job)).status_code == 200
    form = {
        "priority": "75",
        "labels": json.dumps({"team": "rag"}),
        "resources": json.dumps(resources(gpus=8)),
        "spec": json.dumps({"kind": "helm", "repo": "http://evil", "chart": "/tmp/x"}),
        "demand_gpus": "0",
        "status": "SUCCEEDED",
        "_save": "Save",
    }
    response = staff_client.post(job_url(job), form)
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.priority, job.labels) == (75, {"team": "rag"})
    assert (job.resources, job.spec, job.demand_gpus, job.status) == (resources(gpus=4), SPEC, 4, "PENDING")


def test_admin_priority_is_checked_as_in_the_api(staff_client, cluster, project):
    job = submit(cluster, project)
    response = staff_client.post(job_url(job), {"priority": "5000", "labels": "{}", "_save": "Save"})
    assert response.status_code == 200
    assert "Must be an integer from 0 to 1000" in response.content.decode()
    job.refresh_from_db()
    assert job.priority == 50


def test_admin_priority_of_a_finished_job_is_read_only(staff_client, cluster, project):
    job = submit(cluster, project, gpus=9)  # can never fit: FAILED at once
    assert job.status == Job.Status.FAILED
    response = staff_client.post(job_url(job), {"priority": "90", "labels": '{"k": "v"}', "_save": "Save"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.priority, job.labels) == (50, {"k": "v"})


# --- clusters --------------------------------------------------------------------------------------------------


def cluster_form(tenant=None, **extra):
    form = {
        "name": "gpu-east",
        "driver": "simulated",
        "status": "ACTIVE",
        "inventory": json.dumps({"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512}),
        "prices": json.dumps({"gpu_hour": {"H100-80GB": 2.5}}),
        "simulation": json.dumps({"startup_seconds": {"default": 0}}),
        "_save": "Save",
        **extra,
    }
    if tenant is not None:
        form["tenant"] = str(tenant.pk)
    return form


def test_admin_counts_a_clusters_jobs_on_both_databases(staff_client, cluster, project):
    # PostgreSQL numbers jobs from a sequence (no counter on the cluster's row): the count is read, not stored.
    for n in range(3):
        submit(cluster, project, f"j{n}", gpus=1)
    response = staff_client.get(f"/admin/jobs/cluster/{cluster.pk}/change/")
    assert response.status_code == 200
    assert response.context["adminform"].form.instance.jobs.count() == 3
    assert b"Jobs submitted" in response.content and b'<div class="readonly">3</div>' in response.content


def test_admin_adds_a_cluster(staff_client, tenant):
    response = staff_client.post("/admin/jobs/cluster/add/", cluster_form(tenant))
    assert response.status_code == 302
    cluster = Cluster.objects.get(name="gpu-east")
    assert (cluster.tenant, cluster.inventory["gpus"]) == (tenant, {"H100-80GB": 8})


def test_admin_refuses_a_kubernetes_cluster_without_credentials(staff_client, tenant):
    response = staff_client.post("/admin/jobs/cluster/add/", cluster_form(tenant, driver="kubernetes"))
    assert response.status_code == 200
    assert "A Kubernetes cluster needs a kubeconfig" in response.content.decode()
    assert not Cluster.objects.exists()


def test_admin_refuses_bad_inventory_prices_and_simulation(staff_client, tenant):
    form = cluster_form(
        tenant,
        inventory=json.dumps({"gpus": {"H100-80GB": -1}, "cpu_cores": 8, "memory_gib": 8}),
        prices=json.dumps({"cpu_hour": -3}),
        simulation=json.dumps({"failure_rate": 2}),
    )
    response = staff_client.post("/admin/jobs/cluster/add/", form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"inventory", "prices", "simulation"}
    assert not Cluster.objects.exists()


def test_admin_refuses_bad_inventory_and_simulation_on_a_change_where_prices_are_read_only(staff_client, cluster):
    form = cluster_form(
        inventory=json.dumps({"gpus": {"H100-80GB": -1}, "cpu_cores": 8, "memory_gib": 8}),
        prices=json.dumps({"cpu_hour": 99}),  # ignored: prices change through billing's price lists
        simulation=json.dumps({"failure_rate": 2}),
    )
    response = staff_client.post(f"/admin/jobs/cluster/{cluster.pk}/change/", form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"inventory", "simulation"}
    assert errors["inventory"][0].startswith("gpus.H100-80GB: ")
    cluster.refresh_from_db()
    assert cluster.name == "sim"


def test_admin_refuses_an_inventory_below_what_jobs_hold(staff_client, cluster, project):
    submit(cluster, project, gpus=8)
    # The A100s stay: the cluster's prices name them (prices change through billing, not here).
    inventory = {"gpus": {"H100-80GB": 2, "A100-80GB": 4}, "cpu_cores": 64, "memory_gib": 512}
    form = cluster_form(inventory=json.dumps(inventory))
    response = staff_client.post(f"/admin/jobs/cluster/{cluster.pk}/change/", form)
    assert response.status_code == 200
    assert "8 x H100-80GB (the new inventory has 2)" in response.context["adminform"].form.errors["inventory"][0]
    cluster.refresh_from_db()
    assert cluster.inventory["gpus"]["H100-80GB"] == 8


def test_admin_refuses_a_name_taken_in_the_tenant(staff_client, cluster, tenant):
    services.cluster_create(tenant=tenant, name="taken", inventory=cluster.inventory)
    response = staff_client.post(f"/admin/jobs/cluster/{cluster.pk}/change/", cluster_form(name="taken"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == [
        "A cluster with this name already exists in the tenant."
    ]


def test_admin_change_runs_a_pass_so_more_capacity_admits_waiting_jobs(staff_client, cluster, project):
    submit(cluster, project, name="first", gpus=8)
    waiting = submit(cluster, project, name="second", gpus=4)
    assert waiting.status == Job.Status.QUEUED
    form = cluster_form(
        name="sim",
        inventory=json.dumps({"gpus": {"H100-80GB": 12, "A100-80GB": 4}, "cpu_cores": 64, "memory_gib": 512}),
    )
    response = staff_client.post(f"/admin/jobs/cluster/{cluster.pk}/change/", form)
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.admitted_at is not None
