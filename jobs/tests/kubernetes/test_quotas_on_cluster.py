"""Quotas on a real kube-apiserver/scheduler (fake GPU nodes, a fake kubelet): a job of a ClusterQueue is held by
the control plane, with nothing on the cluster, until its queue admits it; then its objects are applied and it runs."""

from __future__ import annotations

import pytest

from core.testing import client_for, wait_for
from jobs import services
from jobs.drivers.kubernetes.manifests import LABEL_JOB
from jobs.models import Job
from jobs.services import cluster_schedule_pass

pytestmark = [pytest.mark.django_db, pytest.mark.kubernetes]

H100 = "H100-80GB"
SPEC = {"kind": "docker", "image": "ghcr.io/acme/app", "tag": "1.0", "port": 8080}


def job_body(project, name, gpus):
    return {
        "name": name,
        "job_type": "SERVICE",
        "project_id": str(project.pk),
        "resources": {"gpu_type": H100, "gpu_count": gpus, "cpu": 1, "memory_gib": 1},
        "spec": SPEC,
    }


def objects_of(plane, job_id) -> list:
    selector = f"{LABEL_JOB}={job_id}"
    return plane.apps.list_deployment_for_all_namespaces(label_selector=selector).items + (
        plane.core.list_service_for_all_namespaces(label_selector=selector).items
    )


def reaches(cluster, job_id, status):
    def reached():
        cluster_schedule_pass(cluster=cluster)
        return Job.objects.filter(pk=job_id, status=status).first()

    return wait_for(reached, timeout=60, interval=0.3, message=f"job {job_id} {status}")


def test_a_job_waits_for_its_queue_with_nothing_on_the_cluster_then_runs_once_admitted(
    member_user, project, k8s_cluster, control_plane
):
    queue = services.cluster_queue_create(
        user=None, cluster=k8s_cluster, data={"name": "team-a", "nominal_quota": {"gpus": {H100: 8}}}
    )
    services.local_queue_create(user=None, cluster_queue=queue, name="team-a-local")
    client = client_for(member_user)
    url = f"/api/v1/clusters/{k8s_cluster.pk}/jobs"
    first = client.post(url, job_body(project, "quota-first", 8), format="json")
    second = client.post(url, job_body(project, "quota-second", 4), format="json")
    assert first.status_code == second.status_code == 201, (first.json(), second.json())
    first_id, second_id = first.json()["id"], second.json()["id"]
    assert first.json()["cluster_queue_id"] == second.json()["cluster_queue_id"] == str(queue.pk)

    reaches(k8s_cluster, first_id, "RUNNING")
    held = Job.objects.get(pk=second_id)
    assert held.status == "QUEUED" and held.driver_state == {}
    assert held.status_message.startswith("Waiting for quota in queue team-a: needs 4 x H100-80GB GPU")
    # Held by the control plane, not by the cluster: no object of it exists there (8 H100s are free on the
    # other node, so without the quota the scheduler would have placed it).
    assert objects_of(control_plane, second_id) == []
    assert len(objects_of(control_plane, first_id)) == 2
    shown = client.get(f"{url}/{second_id}").json()
    assert shown["status"] == "QUEUED" and "queue team-a" in shown["status_message"]

    assert client.delete(f"{url}/{first_id}").status_code in (200, 202, 204)
    running = reaches(k8s_cluster, second_id, "RUNNING")
    assert running.driver_state["kind"] == "workload"
    assert len(objects_of(control_plane, second_id)) == 2
    wait_for(lambda: not objects_of(control_plane, first_id), timeout=30, message="the first job's objects gone")
    client.delete(f"{url}/{second_id}")
