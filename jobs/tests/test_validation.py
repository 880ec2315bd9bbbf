"""Bad input the job layer refuses: chart locations, GPU types, empty resources, label filters, drivers, shrinking."""

import pytest

from core.exceptions import ValidationError
from jobs import selectors, services
from jobs.models import Cluster, Job
from jobs.tests.factories import SPEC, resources
from jobs.validation import validate_spec

pytestmark = pytest.mark.django_db


def jobs_url(cluster):
    return f"/api/v1/clusters/{cluster.pk}/jobs"


def job_body(project, **extra):
    return {
        "name": "svc",
        "job_type": "SERVICE",
        "project_id": str(project.pk),
        "resources": resources(gpus=1),
        "spec": SPEC,
        **extra,
    }


def submit(cluster, project, name="job", **kwargs):
    kwargs.setdefault("resources", resources(gpus=8))
    kwargs.setdefault("job_type", "SERVICE")
    return services.job_submit(cluster=cluster, name=name, tenant=cluster.tenant, project=project, spec=SPEC, **kwargs)


# --- chart locations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chart",
    ["http://evil/x.tgz", "file:///etc/chart", "../../local-chart", "/tmp/chart", "charts/qdrant", "qdrant\n"],
)
def test_chart_that_is_a_path_or_another_scheme_is_400(member_client, cluster, project, chart):
    spec = {"kind": "helm", "repo": "https://charts.example.com", "chart": chart}
    response = member_client.post(jobs_url(cluster), job_body(project, spec=spec), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["spec.chart"]
    assert "local paths and other schemes are refused" in response.json()["errors"]["spec.chart"][0]
    assert not Job.objects.exists()


@pytest.mark.parametrize("chart", ["qdrant", "kube-prometheus-stack", "oci://r.io/charts/qdrant", "https://c.io/x.tgz"])
def test_chart_name_or_remote_chart_url_is_accepted(chart):
    spec = {"kind": "helm", "repo": "oci://r.io/charts", "chart": chart}
    assert validate_spec(spec) == spec


# --- resources -------------------------------------------------------------------------------------------------


def test_unknown_gpu_type_without_gpu_count_is_400(member_client, cluster, project):
    body = job_body(project, resources={"gpu_type": "NOPE", "cpu": 1})
    response = member_client.post(jobs_url(cluster), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "resources.gpu_type": ["Unknown GPU type 'NOPE'; this cluster has: A100-80GB, H100-80GB."]
    }
    assert not Job.objects.exists()


def test_known_gpu_type_without_gpu_count_is_a_cpu_job(member_client, cluster, project):
    body = job_body(project, resources={"gpu_type": "H100-80GB", "cpu": 1})
    response = member_client.post(jobs_url(cluster), body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["resources"]["gpu_type"] is None


def test_job_asking_for_nothing_is_400(member_client, cluster, project):
    body = job_body(project, resources={"gpu_count": 0, "cpu": 0, "memory_gib": 0})
    response = member_client.post(jobs_url(cluster), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"resources": ["Ask for at least some CPU, memory or GPUs."]}
    assert not Job.objects.exists()


def test_capacity_preview_reports_a_job_asking_for_nothing(cluster):
    with pytest.raises(ValidationError):
        selectors.estimate_hourly_cost(cluster=cluster, resources={"cpu": 0, "memory_gib": 0})


# --- label filter ----------------------------------------------------------------------------------------------


@pytest.fixture
def labelled(cluster, project):
    submit(cluster, project, name="rag", resources=resources(), labels={"team": "rag", "a__b": "x", "n": "2"})
    submit(cluster, project, name="ml", resources=resources(), labels={"team": "ml"})


def label_names(client, cluster, query):
    response = client.get(f"{jobs_url(cluster)}?{query}")
    assert response.status_code == 200, response.json()
    return sorted(job["name"] for job in response.json()["results"])


@pytest.mark.parametrize("query", ["label=team__regex=(", "label=team__isnull=maybe", "label=n__gt=1"])
def test_label_filter_treats_lookups_in_the_key_literally(member_client, cluster, labelled, query):
    assert label_names(member_client, cluster, query) == []


def test_label_filter_matches_a_key_with_double_underscores(member_client, cluster, labelled):
    assert label_names(member_client, cluster, "label=a__b=x") == ["rag"]
    assert label_names(member_client, cluster, "label=a__b") == ["rag"]
    assert label_names(member_client, cluster, "label=team=ml") == ["ml"]


@pytest.mark.parametrize("query", ["label==rag", "label=&label=team", f"label={'k' * 254}=v"])
def test_malformed_label_filter_is_400(member_client, cluster, labelled, query):
    response = member_client.get(f"{jobs_url(cluster)}?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["label"]


# --- drivers ---------------------------------------------------------------------------------------------------


def cluster_body(tenant, **extra):
    return {
        "tenant_id": str(tenant.pk),
        "name": "k8s",
        "inventory": {"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512},
        **extra,
    }


def test_creating_a_kubernetes_cluster_without_credentials_is_400(admin_client, tenant):
    response = admin_client.post("/api/v1/clusters", cluster_body(tenant, driver="kubernetes"), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["kubeconfig"]
    assert "needs a kubeconfig" in response.json()["errors"]["kubeconfig"][0]
    assert not Cluster.objects.exists()


def test_creating_a_kubernetes_cluster_with_a_broken_kubeconfig_is_400(admin_client, tenant):
    body = cluster_body(tenant, driver="kubernetes", kubeconfig="apiVersion: v1\nclusters: 7\n")
    response = admin_client.post("/api/v1/clusters", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["kubeconfig"][0].startswith("Not a usable kubeconfig")
    assert not Cluster.objects.exists()


def test_changing_a_cluster_to_kubernetes_without_credentials_is_400(admin_client, cluster):
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"driver": "kubernetes"}, format="json")
    assert response.status_code == 400
    assert "needs a kubeconfig" in response.json()["errors"]["kubeconfig"][0]
    cluster.refresh_from_db()
    assert cluster.driver == "simulated"


# --- shrinking the inventory -----------------------------------------------------------------------------------


def test_inventory_below_what_running_jobs_hold_is_409(admin_client, cluster, project, clock):
    job = submit(cluster, project, resources=resources(gpus=8, cpu=2, memory_gib=4))
    clock.shift(60)
    services.cluster_schedule_pass(cluster=cluster)
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING
    before = cluster.inventory
    inventory = {"gpus": {"H100-80GB": 2, "A100-80GB": 4}, "cpu_cores": 1, "memory_gib": 512}
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"inventory": inventory}, format="json")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "8 x H100-80GB (the new inventory has 2)" in detail
    assert "2 CPU cores (the new inventory has 1)" in detail
    cluster.refresh_from_db()
    assert cluster.inventory == before
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


def test_inventory_removing_a_held_gpu_type_is_409(admin_client, cluster, project):
    submit(cluster, project, resources=resources(gpus=1, gpu_type="A100-80GB"))  # admitted, starting up
    # Prices change only through billing's dated price lists: as if one no longer named the A100s.
    prices = {**cluster.prices, "gpu_hour": {k: v for k, v in cluster.prices["gpu_hour"].items() if k != "A100-80GB"}}
    Cluster.objects.filter(pk=cluster.pk).update(prices=prices)
    body = {"inventory": {"gpus": {"H100-80GB": 8}, "cpu_cores": 64, "memory_gib": 512}}
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", body, format="json")
    assert response.status_code == 409, response.json()
    assert "1 x A100-80GB (the new inventory has 0)" in response.json()["detail"]


def test_inventory_may_shrink_to_what_jobs_hold_and_waiting_jobs_do_not_count(admin_client, cluster, project):
    submit(cluster, project, name="holds", resources=resources(gpus=6))
    waiting = submit(cluster, project, name="waits", resources=resources(gpus=4))
    assert waiting.status == Job.Status.QUEUED
    inventory = {"gpus": {"H100-80GB": 6, "A100-80GB": 4}, "cpu_cores": 64, "memory_gib": 512}
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"inventory": inventory}, format="json")
    assert response.status_code == 200, response.json()
    cluster.refresh_from_db()
    assert cluster.inventory == inventory
