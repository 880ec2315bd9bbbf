"""Scale to zero and back: the job stops (no cost), the deployment shows SCALED_TO_ZERO everywhere, and a wake
starts the component again at the same address with its predicted cold start."""

import math
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from autoscaling.models import ScalingDecision
from autoscaling.services import deployment_autoscale, policy_set
from autoscaling.tests.factories import rollups
from deployments import reconciler
from deployments.models import ComponentDeployment
from deployments.tests.factories import deploy
from jobs.models import Job
from jobs.simulation import STARTUP_LABEL
from serving.tests.factories import running_with_key, send

pytestmark = pytest.mark.django_db

ZERO = {"min_replicas": 0, "max_replicas": 2, "signal": "concurrency", "target": 8, "idle_timeout_s": 600}


def llm_row(deployment) -> ComponentDeployment:
    return deployment.components.select_related("job").get(key="llm", retired_at__isnull=True, is_candidate=False)


@pytest.fixture
def idle(templates, member_user, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    policy_set(user=member_user, deployment=deployment, components={"llm": ZERO})
    return deployment


def test_to_zero_after_the_idle_timeout_then_back_on_wake(idle, member_client):
    now = timezone.now()
    rollups(deployment=idle, key="llm", end=now, minutes=5, replicas=1, requests=0)
    assert deployment_autoscale(deployment_id=idle.pk, now=now) == []  # 5 idle minutes: not yet
    rollups(deployment=idle, key="llm", end=now - timedelta(minutes=5), minutes=6, replicas=1, requests=0)
    [decision] = deployment_autoscale(deployment_id=idle.pk, now=now)
    assert (decision.direction, decision.to_replicas, decision.outcome) == ("to_zero", 0, "applied")
    idle.refresh_from_db()
    row = llm_row(idle)
    old_job = row.job
    assert row.status == "SCALED_TO_ZERO" and old_job.status == Job.Status.CANCELLED  # GPUs freed, cost stops
    assert idle.status == "SCALED_TO_ZERO" and "Scaled to zero: llm" in idle.status_message
    assert idle.next_reconcile_at is None
    # A reconcile pass leaves it as it is: the cancelled job is not a failure to retry.
    reconciler.deployment_reconcile(deployment_id=idle.pk)
    idle.refresh_from_db()
    assert idle.status == "SCALED_TO_ZERO" and llm_row(idle).pk == row.pk
    # Lists, filters and the API know the state.
    listed = member_client.get("/api/v1/deployments", {"status": "SCALED_TO_ZERO"}).json()
    assert [d["id"] for d in listed["results"]] == [str(idle.pk)]
    assert member_client.get("/api/v1/deployments", {"status": "RUNNING"}).json()["count"] == 0
    # The autoscaler leaves a component at zero alone until a request waits.
    assert deployment_autoscale(deployment_id=idle.pk, now=now + timedelta(minutes=1)) == []

    woken = member_client.post(f"/api/v1/deployments/{idle.pk}/wake")
    assert woken.status_code == 200
    [entry] = woken.json()["woken"]
    cold = entry["cold_start"]
    assert entry["component"] == "llm" and cold["pooled"] is False
    # Llama-3.1-8B in bf16 (16 GB at 1 GB/s), the image still cached on the node, the engine warm-up.
    assert cold["image_s"] == 2.0 and cold["warmup_s"] == 25.0 and cold["weights_s"] == pytest.approx(16.06, 0.01)
    wake = ScalingDecision.objects.get(direction="wake")
    assert wake.to_replicas == 1 and "cold start about 43 s" in wake.reason
    idle.refresh_from_db()
    assert idle.status == "DEPLOYING"
    # The new job carries the predicted cold start as its start-up time: on the simulated cluster (whose own
    # start-up is 0 s) it is RUNNING only once that time has passed, not at the first pass.
    woke_at = timezone.now()
    with time_machine.travel(woke_at, tick=False):
        reconciler.deployment_reconcile(deployment_id=idle.pk)
    row = llm_row(idle)
    assert row.job.labels[STARTUP_LABEL] == f"{cold['total_s']:.1f}" and row.status != "RUNNING"
    with time_machine.travel(woke_at + timedelta(seconds=cold["total_s"] - 2), tick=False):
        reconciler.deployment_reconcile(deployment_id=idle.pk)
    assert llm_row(idle).status != "RUNNING"
    with time_machine.travel(woke_at + timedelta(seconds=cold["total_s"] + 1), tick=False):
        reconciler.deployment_reconcile(deployment_id=idle.pk)
    idle.refresh_from_db()
    row = llm_row(idle)
    assert idle.status == "RUNNING" and row.status == "RUNNING"
    assert row.job.name == old_job.name and row.job.pk != old_job.pk  # the same address, a new job
    assert (row.job.started_at - woke_at).total_seconds() == pytest.approx(cold["total_s"], abs=1.5)
    assert member_client.post(f"/api/v1/deployments/{idle.pk}/wake").json() == {"woken": []}


def test_wake_is_refused_to_a_viewer_and_hidden_from_another_tenant(idle, viewer_client, other_client):
    assert viewer_client.post(f"/api/v1/deployments/{idle.pk}/wake").status_code == 403
    assert other_client.post(f"/api/v1/deployments/{idle.pk}/wake").status_code == 404


def test_the_first_request_at_zero_wakes_it_and_waits_out_the_cold_start(templates, member_user, project, cluster):
    deployment, _, secret = running_with_key(user=member_user, project=project, cluster=cluster)
    policy_set(user=member_user, deployment=deployment, components={"llm": ZERO})
    now = timezone.now()
    rollups(deployment=deployment, key="llm", end=now, minutes=12, replicas=1, requests=0)
    deployment_autoscale(deployment_id=deployment.pk, now=now)
    deployment.refresh_from_db()
    assert deployment.status == "SCALED_TO_ZERO"
    answer = send(deployment.endpoint_slug, secret, "v1/chat/completions")
    assert answer.status_code == 503
    wake = ScalingDecision.objects.get(direction="wake")
    cold = wake.data["cold_start"]["total_s"]
    # The request's wait is the cold start: the client is told to come back when it is over.
    assert int(answer["Retry-After"]) == math.ceil(cold) and f"about {math.ceil(cold)} s" in answer.json()["detail"]
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        assert llm_row(deployment).status != "RUNNING"  # the cold start is not over
        traveller.shift(timedelta(seconds=cold + 1))
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
    assert send(deployment.endpoint_slug, secret, "v1/chat/completions").status_code == 200
