"""A preempted SERVICE component: its job goes back to waiting, the deployment shows DEGRADED with the reason (never
half-stopped), and it comes back RUNNING once it is admitted again."""

import pytest
import time_machine
from django.utils import timezone

from deployments import reconciler, services
from deployments.tests.factories import deploy
from jobs import services as job_services
from jobs.models import JobEvent
from jobs.tests.factories import submit_job

pytestmark = pytest.mark.django_db


def live(deployment):
    return {row.key: row for row in deployment.components.filter(retired_at__isnull=True).select_related("job")}


def test_a_preempted_service_degrades_its_deployment_with_the_reason_then_heals(
    templates, member_user, project, cluster
):
    gpu_types = dict(cluster.inventory["gpus"])
    queue = job_services.cluster_queue_create(
        user=None,
        cluster=cluster,
        data={"name": "team", "nominal_quota": {"gpus": gpu_types}, "within_cluster_queue": "LowerPriority"},
    )
    job_services.local_queue_create(user=None, cluster_queue=queue, name="everyone")
    with time_machine.travel(timezone.now(), tick=False):
        deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
        deployment.refresh_from_db()
        assert deployment.status == "RUNNING"
        llm = live(deployment)["llm"].job
        gpu_type = llm.resources["gpu_type"]
        # An urgent job that needs every GPU of that type: within its queue it preempts the lower-priority LLM.
        urgent = submit_job(
            cluster, project, "urgent", gpus=gpu_types[gpu_type], gpu_type=gpu_type, priority="CRITICAL"
        )
        assert urgent.status == "RUNNING"
        llm.refresh_from_db()
        assert llm.status == "QUEUED" and llm.admitted_at is None
        assert JobEvent.objects.filter(job=llm, kind="PREEMPTED", other_job=urgent).exists()
        assert services.deployments_requeue_stale() == 1  # the sweep notices the preempted job of a RUNNING row
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        deployment.refresh_from_db()
        row = live(deployment)["llm"]
        assert deployment.status == "DEGRADED"
        assert row.status == "QUEUED" and row.job_id == llm.pk  # the same job waits: nothing half-stopped or lost
        assert "Preempted: higher priority in its queue (by job urgent" in row.status_message
        assert "llm" in deployment.status_message and "Preempted" in deployment.status_message
        job_services.job_cancel(job=urgent, reason="done")
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        deployment.refresh_from_db()
        assert deployment.status == "RUNNING"
        assert live(deployment)["llm"].job_id == llm.pk
