"""Helm components as releases (the real helm binary against the test control plane), the connection check, and
the kubeconfig that never comes back from the API."""

from __future__ import annotations

import pytest
import yaml
from django.db import connection

from core.testing import client_for, db_id, wait_for
from jobs import services as job_services
from jobs.drivers.kubernetes import helm
from jobs.models import Cluster, Job
from jobs.tests.kubernetes.fake import GPU_PRODUCTS

pytestmark = [pytest.mark.django_db, pytest.mark.kubernetes]


def submit_helm(cluster, project, chart_repo, name="tiny-release", **values):
    return job_services.job_submit(
        cluster=cluster,
        name=name,
        job_type="SERVICE",
        tenant=cluster.tenant,
        project=project,
        resources={"cpu": 1, "memory_gib": 1},
        spec={
            "kind": "helm",
            "repo": chart_repo,
            "chart": "tiny",
            "version": "0.1.0",
            "port": 8080,
            "values": {"replicaCount": 2, **values},
        },
    )


def advance_until(cluster, job, status: str):
    def reached():
        job_services.cluster_schedule_pass(cluster=cluster)
        return Job.objects.filter(pk=job.pk, status=status).first()

    try:
        return wait_for(reached, timeout=180, interval=0.3, message=f"job {job.name} to be {status}")
    except AssertionError as exc:
        current = Job.objects.get(pk=job.pk)
        code, output = helm.outcome(job.pk)
        raise AssertionError(
            f"{exc}; it is {current.status}: {current.status_message}; helm {code}: {output}"
        ) from None


def test_a_helm_component_installs_the_chart_as_a_release_and_cancel_uninstalls_it(
    project, k8s_cluster, control_plane, chart_repo
):
    job = submit_helm(k8s_cluster, project, chart_repo)
    running = advance_until(k8s_cluster, job, "RUNNING")
    namespace, release = running.driver_state["namespace"], running.driver_state["name"]
    secrets = control_plane.core.list_namespaced_secret(namespace, label_selector=f"owner=helm,name={release}")
    assert [s.metadata.labels["status"] for s in secrets.items] == ["deployed"]
    deployed = control_plane.apps.read_namespaced_deployment(release, namespace)
    assert deployed.spec.replicas == 2
    assert deployed.metadata.labels["usecase-foundry.io/job"] == str(job.pk)
    assert running.outputs["url"] == f"http://{release}.{namespace}.svc.cluster.local:8080"

    job_services.job_cancel(job=running, reason="test")
    assert control_plane.core.list_namespaced_secret(namespace, label_selector=f"name={release}").items == []
    gone = control_plane.apps.list_namespaced_deployment(namespace, field_selector=f"metadata.name={release}")
    assert gone.items == []


def test_a_chart_that_renders_a_host_network_pod_is_refused_before_anything_is_installed(
    project, k8s_cluster, control_plane, chart_repo
):
    job = submit_helm(k8s_cluster, project, chart_repo, name="sneaky", useHostNetwork=True)
    job.refresh_from_db()
    assert job.status == "FAILED"
    assert "hostNetwork is not allowed" in job.status_message
    assert "spec.template.spec.hostNetwork" in job.status_message
    assert job.driver_state == {}
    assert not control_plane.core.list_secret_for_all_namespaces(label_selector="owner=helm,name=sneaky").items


# --- the connection ------------------------------------------------------------------------------------------


def test_the_connection_check_reads_the_inventory_from_the_nodes(admin_user, tenant, control_plane, k8s_settings):
    client = client_for(admin_user)
    body = {
        "tenant_id": str(tenant.pk),
        "name": "real",
        "driver": "kubernetes",
        "kubeconfig": control_plane.kubeconfig,
        "kubernetes": {"gpu_products": GPU_PRODUCTS},
    }
    created = client.post("/api/v1/clusters", body, format="json")
    assert created.status_code == 201, created.json()
    response = client.post(f"/api/v1/clusters/{created.json()['id']}/check")
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is True and result["reason"] == ""
    assert result["server"] == control_plane.server
    assert result["inventory"]["gpus"] == {"A100-80GB": 4, "H100-80GB": 16, "L4": 4}
    assert result["inventory"]["cpu_cores"] == 5 * 64
    assert {n["name"]: n["gpus"] for n in result["nodes"]}["gpu-h100-1"] == 8
    assert Cluster.objects.get(pk=created.json()["id"]).inventory["gpus"]["H100-80GB"] == 16


def _with_token(kubeconfig: str, token: str) -> str:
    data = yaml.safe_load(kubeconfig)
    data["users"][0]["user"]["token"] = token
    return yaml.safe_dump(data)


def _with_server(kubeconfig: str, server: str) -> str:
    data = yaml.safe_load(kubeconfig)
    data["clusters"][0]["cluster"]["server"] = server
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("change", "settings_", "reason", "words"),
    [
        (lambda k: _with_server(k, "https://127.0.0.1:1"), {}, "unreachable", "is unreachable"),
        (lambda k: _with_token(k, "not-the-token"), {}, "unauthorised", "refused the credentials (401"),
        (lambda k: k, {"gpu_resource": "amd.com/gpu"}, "no_gpu_nodes", "No ready node offers amd.com/gpu"),
    ],
)
def test_the_connection_check_says_clearly_why_a_cluster_cannot_be_used(
    admin_user, tenant, control_plane, k8s_settings, change, settings_, reason, words
):
    client = client_for(admin_user)
    body = {
        "tenant_id": str(tenant.pk),
        "name": reason,
        "driver": "kubernetes",
        "kubeconfig": change(control_plane.kubeconfig),
        "kubernetes": settings_,
    }
    created = client.post("/api/v1/clusters", body, format="json")
    assert created.status_code == 201, created.json()
    result = client.post(f"/api/v1/clusters/{created.json()['id']}/check").json()
    assert (result["ok"], result["reason"]) == (False, reason)
    assert words in result["message"]


def test_only_tenant_admins_check_a_cluster(member_user, k8s_cluster):
    response = client_for(member_user).post(f"/api/v1/clusters/{k8s_cluster.pk}/check")
    assert response.status_code == 403


def test_another_tenants_cluster_check_is_404(other_member_user, k8s_cluster):
    response = client_for(other_member_user).post(f"/api/v1/clusters/{k8s_cluster.pk}/check")
    assert response.status_code == 404


def test_a_kubeconfig_never_comes_back_from_the_api(admin_user, tenant, control_plane, k8s_settings):
    client = client_for(admin_user)
    token = yaml.safe_load(control_plane.kubeconfig)["users"][0]["user"]["token"]
    body = {
        "tenant_id": str(tenant.pk),
        "name": "secret",
        "driver": "kubernetes",
        "kubeconfig": control_plane.kubeconfig,
        "kubernetes": {"gpu_products": GPU_PRODUCTS},
    }
    created = client.post("/api/v1/clusters", body, format="json")
    cluster_id = created.json()["id"]
    responses = [
        created,
        client.get(f"/api/v1/clusters/{cluster_id}"),
        client.get("/api/v1/clusters"),
        client.patch(f"/api/v1/clusters/{cluster_id}", {"kubeconfig": control_plane.kubeconfig}, format="json"),
        client.post(f"/api/v1/clusters/{cluster_id}/check"),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.content
        assert token not in response.content.decode()
        assert '"kubeconfig"' not in response.content.decode()
    assert created.json()["has_kubeconfig"] is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT kubeconfig FROM jobs_cluster WHERE id = %s", [db_id(Cluster.objects.get(pk=cluster_id))])
        stored = cursor.fetchone()[0]
    assert token not in stored and stored.startswith("gAAAAA")  # a Fernet token, not the YAML
    assert Cluster.objects.get(pk=cluster_id).kubeconfig == control_plane.kubeconfig
