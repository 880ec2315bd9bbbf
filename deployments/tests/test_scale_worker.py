"""Scaling through the API with a real Celery worker: up, down, beyond capacity, and cancelling a stuck change."""

import pytest

from core.testing import client_for, wait_for
from deployments.models import ComponentDeployment, DeploymentRevision, UseCaseDeployment
from deployments.tests.factories import make_cluster, seed_system_templates
from deployments.tests.test_integration import post_simple_rag
from jobs.models import Job
from jobs.tests.factories import submit_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

A100 = "A100-80GB"


def llm(deployment_id) -> ComponentDeployment:
    return ComponentDeployment.objects.select_related("job").get(
        deployment_id=deployment_id, key="llm", retired_at__isnull=True, is_candidate=False
    )


def revision_applied(deployment_id, number):
    def check():
        deployment = UseCaseDeployment.objects.get(pk=deployment_id)
        return deployment.revision == number and deployment.status == "RUNNING"

    return check


@pytest.fixture
def client(member_user):
    seed_system_templates()
    return client_for(member_user)


def test_scale_up_then_down_resizes_the_running_llm(celery_worker_process, client, tenant, project):
    cluster = make_cluster(tenant=tenant, name="sim-scale", startup=0.5)
    deployment_id = post_simple_rag(client, project, cluster)
    wait_for(revision_applied(deployment_id, 1), timeout=60, message="RUNNING")
    llm_job = llm(deployment_id).job_id
    others = {
        row.key: row.job_id
        for row in ComponentDeployment.objects.filter(deployment_id=deployment_id, retired_at__isnull=True)
        if row.key != "llm"
    }

    response = client.post(f"/api/v1/deployments/{deployment_id}/scale", {"scale": {"llm": 3}}, format="json")
    assert response.status_code == 202, response.json()
    wait_for(revision_applied(deployment_id, 2), timeout=60, message="scale up applied")
    row = llm(deployment_id)
    assert (row.job_id, row.job.resources["replicas"], row.job.status) == (llm_job, 3, "RUNNING")

    response = client.post(f"/api/v1/deployments/{deployment_id}/scale", {"scale": {"llm": 1}}, format="json")
    assert response.status_code == 202, response.json()
    wait_for(revision_applied(deployment_id, 3), timeout=60, message="scale down applied")
    row = llm(deployment_id)
    assert (row.job_id, row.job.resources["replicas"]) == (llm_job, 1)
    after = {
        row.key: row.job_id
        for row in ComponentDeployment.objects.filter(deployment_id=deployment_id, retired_at__isnull=True)
        if row.key != "llm"
    }
    assert after == others  # nothing else was touched


def test_scale_beyond_capacity_waits_for_it_then_applies(celery_worker_process, client, tenant, project):
    cluster = make_cluster(tenant=tenant, name="sim-small", gpus={"A100-80GB": 2, "L4": 2, "H100-80GB": 0})
    deployment_id = post_simple_rag(client, project, cluster)
    wait_for(revision_applied(deployment_id, 1), timeout=60, message="RUNNING")
    batch = submit_job(cluster, project, "training", job_type="BATCH", gpu_type=A100, duration_seconds=3)
    assert batch.status == "RUNNING"  # the other A100, for 3 s

    response = client.post(f"/api/v1/deployments/{deployment_id}/scale", {"scale": {"llm": 2}}, format="json")
    assert response.status_code == 202, response.json()

    def queued_with_prediction():
        part = ComponentDeployment.objects.filter(deployment_id=deployment_id, key="llm", is_candidate=True).first()
        return part is not None and part.status == "QUEUED" and "predicted start" in part.status_message

    wait_for(queued_with_prediction, timeout=30, message="the extra part queued with its predicted start")
    assert UseCaseDeployment.objects.get(pk=deployment_id).status == "UPDATING"
    assert llm(deployment_id).job.status == "RUNNING"  # serving meanwhile
    wait_for(revision_applied(deployment_id, 2), timeout=60, message="the scale applied once the batch job ended")
    assert llm(deployment_id).job.resources["replicas"] == 2
    assert Job.objects.get(pk=batch.pk).status == "SUCCEEDED"


def test_a_scale_that_cannot_get_capacity_is_cancelled(celery_worker_process, client, tenant, project):
    cluster = make_cluster(tenant=tenant, name="sim-tight", gpus={"A100-80GB": 2, "L4": 2, "H100-80GB": 0})
    deployment_id = post_simple_rag(client, project, cluster)
    wait_for(revision_applied(deployment_id, 1), timeout=60, message="RUNNING")
    submit_job(cluster, project, "forever", gpu_type=A100)
    client.post(f"/api/v1/deployments/{deployment_id}/scale", {"scale": {"llm": 2}}, format="json")
    wait_for(
        lambda: ComponentDeployment.objects.filter(
            deployment_id=deployment_id, key="llm", is_candidate=True, status="QUEUED"
        ).exists(),
        timeout=30,
        message="the extra part queued",
    )
    response = client.post(f"/api/v1/deployments/{deployment_id}/cancel-change")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "RUNNING"
    assert DeploymentRevision.objects.get(deployment_id=deployment_id, number=2).status == "cancelled"
    assert not Job.objects.filter(usecase_deployment_id=deployment_id, status__in=["PENDING", "QUEUED"]).exists()
    assert llm(deployment_id).job.resources["replicas"] == 1
