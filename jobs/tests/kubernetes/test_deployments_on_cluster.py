"""simple-rag-v1 and Helm components on a real kube-apiserver/scheduler/controller-manager (fake GPU nodes, a fake
kubelet): objects, GPU limits, node affinity, wiring, status, update, scale and delete."""

from __future__ import annotations

import time

import pytest

from components.models import ComponentDefinition
from core.testing import client_for, wait_for
from deployments import services as deployment_services
from deployments.models import UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS
from jobs import services as job_services
from jobs.drivers.kubernetes.manifests import LABEL_DEPLOYMENT, namespace_for
from jobs.models import Job
from jobs.services import cluster_schedule_pass
from jobs.tests.kubernetes.helpers import (
    SIMPLE_RAG_KEYS,
    DeploymentEvents,
    deployment_objects,
    reconcile_until,
)

pytestmark = [pytest.mark.django_db, pytest.mark.kubernetes]


@pytest.fixture
def qdrant_from_its_image(templates):
    """The catalog installs Qdrant from its Helm chart, which cannot be fetched here (no network): the vector DB
    runs from its image instead (docker/qdrant, port 6333, the template's persistence.size as its PVC)."""
    ComponentDefinition.objects.filter(id="qdrant").update(deployment_type="DOCKER")


def deploy_simple_rag(member_user, project, cluster) -> str:
    body = {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": SIMPLE_RAG_PARAMS,
    }
    response = client_for(member_user).post("/api/v1/deployments", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def container(deployment):
    return deployment.spec.template.spec.containers[0]


def test_simple_rag_v1_runs_as_deployments_services_and_a_pvc(
    qdrant_from_its_image, member_user, project, k8s_cluster, control_plane
):
    started = time.monotonic()
    deployment_id = deploy_simple_rag(member_user, project, k8s_cluster)
    deployment = reconcile_until(deployment_id, "RUNNING")
    elapsed = time.monotonic() - started
    objects = deployment_objects(control_plane, deployment_id)
    assert set(objects["deployments"]) == SIMPLE_RAG_KEYS
    assert set(objects["services"]) == SIMPLE_RAG_KEYS
    assert set(objects["pvcs"]) == {"vector-db"}
    assert objects["pvcs"]["vector-db"].spec.resources.requests == {"storage": "50Gi"}
    vector_db = objects["deployments"]["vector-db"]
    assert vector_db.spec.template.spec.volumes[0].persistent_volume_claim.claim_name == vector_db.metadata.name

    for key, gpu_product in (("llm", "NVIDIA-A100-SXM4-80GB"), ("embedding", "NVIDIA-L4")):
        resources = container(objects["deployments"][key]).resources
        assert resources.limits["nvidia.com/gpu"] == resources.requests["nvidia.com/gpu"] == "1"
        terms = objects["deployments"][key].spec.template.spec.affinity.node_affinity
        expression = terms.required_during_scheduling_ignored_during_execution.node_selector_terms[0].match_expressions[
            0
        ]
        assert (expression.key, expression.operator) == ("nvidia.com/gpu.product", "In")
        assert gpu_product in expression.values
    for key in ("vector-db", "orchestrator"):
        assert "nvidia.com/gpu" not in (container(objects["deployments"][key]).resources.limits or {})
        assert objects["deployments"][key].spec.template.spec.affinity is None

    namespace = vector_db.metadata.namespace
    env = {item.name: item.value for item in container(objects["deployments"]["orchestrator"]).env}
    names = {key: objects["services"][key].metadata.name for key in SIMPLE_RAG_KEYS}
    assert env["VECTOR_DB_URL"] == f"http://{names['vector-db']}.{namespace}.svc.cluster.local:6333"
    assert env["EMBEDDING_URL"] == f"http://{names['embedding']}.{namespace}.svc.cluster.local:80"
    assert env["LLM_URL"] == f"http://{names['llm']}.{namespace}.svc.cluster.local:8000/v1"
    assert container(objects["deployments"]["llm"]).readiness_probe.http_get.path == "/health"
    assert container(objects["deployments"]["llm"]).args[:2] == ["--model", SIMPLE_RAG_PARAMS["model_id"]]
    # Scheduled by the real scheduler onto the fake nodes of the right type.
    pods = control_plane.core.list_namespaced_pod(namespace, label_selector=f"{LABEL_DEPLOYMENT}={deployment_id}")
    nodes = {pod.metadata.labels["usecase-foundry.io/component"]: pod.spec.node_name for pod in pods.items}
    assert nodes["llm"] == "gpu-a100-0" and nodes["embedding"] == "gpu-l4-0"
    ns = control_plane.core.read_namespace(namespace)
    assert ns.metadata.labels["usecase-foundry.io/project"] == str(project.pk)
    assert deployment.status_message == "All 4 components are running."
    jobs = Job.objects.filter(usecase_deployment_id=deployment_id)
    assert {job.status for job in jobs} == {"RUNNING"}
    print(f"\nPOST to RUNNING on the test control plane: {elapsed:.2f} s")


def test_a_gpu_request_that_cannot_be_scheduled_shows_the_schedulers_message(
    member_user, project, k8s_cluster, control_plane
):
    body = {
        "name": "too-big",
        "job_type": "SERVICE",
        "project_id": str(project.pk),
        "resources": {"gpu_type": "H100-80GB", "gpu_count": 12, "cpu": 1, "memory_gib": 1},
        "spec": {"kind": "docker", "image": "ghcr.io/acme/app", "tag": "1.0", "port": 8080},
    }
    client = client_for(member_user)
    response = client.post(f"/api/v1/clusters/{k8s_cluster.pk}/jobs", body, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]

    def queued():
        cluster_schedule_pass(cluster=k8s_cluster)
        return Job.objects.filter(pk=job_id, status="QUEUED").first()

    job = wait_for(queued, timeout=60, interval=0.3, message="the job to be QUEUED")
    assert job.status_message.startswith("Unschedulable: 0/5 nodes are available")
    assert "Insufficient nvidia.com/gpu" in job.status_message
    assert job.admitted_at is None
    shown = client.get(f"/api/v1/clusters/{k8s_cluster.pk}/jobs/{job_id}").json()
    assert shown["status"] == "QUEUED" and "Insufficient nvidia.com/gpu" in shown["waiting_reason"]


def test_an_update_brings_the_new_parts_up_before_the_old_ones_go(
    qdrant_from_its_image, member_user, project, k8s_cluster, control_plane
):
    deployment_id = deploy_simple_rag(member_user, project, k8s_cluster)
    reconcile_until(deployment_id, "RUNNING")
    before = deployment_objects(control_plane, deployment_id)["deployments"]
    events = DeploymentEvents(control_plane, before["llm"].metadata.namespace)
    events.start()
    deployment = UseCaseDeployment.objects.get(pk=deployment_id)
    parameters = {**SIMPLE_RAG_PARAMS, "model_id": "mistralai/Mistral-7B-Instruct-v0.3"}
    deployment_services.deployment_update(user=member_user, deployment=deployment, parameters=parameters)
    reconcile_until(deployment_id, "RUNNING")
    after = deployment_objects(control_plane, deployment_id)["deployments"]
    wait_for(lambda: events.first(before["llm"].metadata.name, kind="DELETED"), timeout=30, message="old llm gone")
    events.stop()
    # The model changed: the llm is replaced, and so is the orchestrator that points at its address.
    for key in ("llm", "orchestrator"):
        old, new = before[key].metadata.name, after[key].metadata.name
        assert new != old
        assert events.first(new, available=True) < events.first(old, kind="DELETED")
    assert container(after["llm"]).args[:2] == ["--model", "mistralai/Mistral-7B-Instruct-v0.3"]
    env = {item.name: item.value for item in container(after["orchestrator"]).env}
    assert f"//{after['llm'].metadata.name}." in env["LLM_URL"]
    for key in ("vector-db", "embedding"):  # untouched
        assert after[key].metadata.uid == before[key].metadata.uid


def test_scale_changes_the_replicas_of_the_deployment(
    qdrant_from_its_image, member_user, project, k8s_cluster, control_plane
):
    deployment_id = deploy_simple_rag(member_user, project, k8s_cluster)
    reconcile_until(deployment_id, "RUNNING")
    orchestrator = deployment_objects(control_plane, deployment_id)["deployments"]["orchestrator"]
    name, namespace = orchestrator.metadata.name, orchestrator.metadata.namespace
    for replicas in (2, 1):
        deployment = UseCaseDeployment.objects.get(pk=deployment_id)
        deployment_services.deployment_scale(
            user=member_user, deployment=deployment, scale={"orchestrator": {"replicas": replicas}}
        )
        reconcile_until(deployment_id, "RUNNING")
        objects = deployment_objects(control_plane, deployment_id)["deployments"]
        assert set(objects) == SIMPLE_RAG_KEYS  # an extra part, if any, was folded in and removed
        assert objects["orchestrator"].metadata.name == name
        assert objects["orchestrator"].spec.replicas == replicas
        wait_for(
            lambda r=replicas: (
                control_plane.apps.read_namespaced_deployment(name, namespace).status.available_replicas == r
            ),
            timeout=30,
            message=f"{replicas} orchestrator replicas available",
        )


def test_delete_removes_every_object_dependents_first(
    qdrant_from_its_image, member_user, project, k8s_cluster, control_plane
):
    deployment_id = deploy_simple_rag(member_user, project, k8s_cluster)
    reconcile_until(deployment_id, "RUNNING")
    before = deployment_objects(control_plane, deployment_id)["deployments"]
    events = DeploymentEvents(control_plane, before["llm"].metadata.namespace)
    events.start()
    deployment = UseCaseDeployment.objects.get(pk=deployment_id)
    deployment_services.deployment_delete(user=member_user, deployment=deployment)
    reconcile_until(deployment_id, "DELETED")
    wait_for(
        lambda: all(events.first(d.metadata.name, kind="DELETED") for d in before.values()),
        timeout=30,
        message="every Deployment deleted",
    )
    events.stop()
    deleted = {key: events.first(d.metadata.name, kind="DELETED") for key, d in before.items()}
    assert all(deleted["orchestrator"] < deleted[key] for key in ("vector-db", "embedding", "llm"))
    wait_for(
        lambda: not any(deployment_objects(control_plane, deployment_id).values()),
        timeout=60,
        message="no Deployment, Service or PVC left",
    )


def test_a_job_whose_deployment_vanished_fails_with_the_reason(
    qdrant_from_its_image, member_user, project, k8s_cluster, control_plane
):
    deployment_id = deploy_simple_rag(member_user, project, k8s_cluster)
    reconcile_until(deployment_id, "RUNNING")
    llm = deployment_objects(control_plane, deployment_id)["deployments"]["llm"]
    control_plane.apps.delete_namespaced_deployment(llm.metadata.name, llm.metadata.namespace)
    job = Job.objects.get(pk=llm.metadata.labels["usecase-foundry.io/job"])

    def failed():
        cluster_schedule_pass(cluster=k8s_cluster)
        return Job.objects.filter(pk=job.pk, status="FAILED").first()

    failed_job = wait_for(failed, timeout=30, interval=0.3, message="the llm's job to fail")
    assert failed_job.status_message == "Its Deployment was deleted outside the product."


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/app:1.0"'),
        ("CrashLoopBackOff", "back-off 40s restarting failed container=main"),
    ],
)
def test_a_container_that_cannot_start_shows_the_kubelets_reason(project, k8s_cluster, control_plane, reason, message):
    namespace = namespace_for(project_id=project.pk, project_name=project.name)
    control_plane.kubelet.held.add(namespace)  # this kubelet reports the container waiting, not running
    try:
        job = job_services.job_submit(
            cluster=k8s_cluster,
            name=f"app-{reason.lower()}",
            job_type="SERVICE",
            tenant=k8s_cluster.tenant,
            project=project,
            resources={"cpu": 1, "memory_gib": 1},
            spec={"kind": "docker", "image": "ghcr.io/acme/app", "tag": "1.0", "port": 8080},
        )
        selector = f"usecase-foundry.io/job={job.pk}"
        pod = wait_for(
            lambda: next(
                (
                    p
                    for p in control_plane.core.list_namespaced_pod(namespace, label_selector=selector).items
                    if p.spec.node_name
                ),
                None,
            ),
            timeout=60,
            message="the pod to be scheduled",
        )
        waiting = {
            "name": "main",
            "image": "ghcr.io/acme/app:1.0",
            "imageID": "",
            "ready": False,
            "restartCount": 3,
            "state": {"waiting": {"reason": reason, "message": message}},
        }
        control_plane.core.patch_namespaced_pod_status(
            pod.metadata.name, namespace, {"status": {"phase": "Pending", "containerStatuses": [waiting]}}
        )

        def shown():
            cluster_schedule_pass(cluster=k8s_cluster)
            return Job.objects.filter(pk=job.pk, status_message__startswith=reason).first()

        current = wait_for(shown, timeout=30, interval=0.3, message=f"{reason} in the job's message")
        assert current.status_message == f"{reason} in pod {pod.metadata.name}: {message}"
        assert current.status == "PENDING" and current.admitted_at is not None
    finally:
        control_plane.kubelet.held.discard(namespace)
