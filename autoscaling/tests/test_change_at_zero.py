"""A deployment at zero takes an update, a scale and a rollback: each is recorded as a revision whose changed
components wait at zero (no job starts, no cost), at the same address; the next wake starts the new spec. The
endpoint stays the same throughout."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from autoscaling.services import deployment_autoscale, deployment_wake_up, policy_set
from autoscaling.tests.factories import rollups
from deployments import reconciler
from deployments import services as deployment_services
from deployments.models import ComponentDeployment
from deployments.tests.factories import deploy
from jobs.models import Job

pytestmark = pytest.mark.django_db

ZERO = {"min_replicas": 0, "max_replicas": 4, "signal": "concurrency", "target": 8, "idle_timeout_s": 600}
NEW_MODEL = {"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}


def serving(deployment, key: str) -> ComponentDeployment:
    return deployment.components.select_related("job").get(key=key, retired_at__isnull=True, is_candidate=False)


def to_zero(deployment, user):
    policy_set(user=user, deployment=deployment, components={"llm": ZERO})
    now = timezone.now()
    rollups(deployment=deployment, key="llm", end=now, minutes=11, replicas=1, requests=0)
    [decision] = deployment_autoscale(deployment_id=deployment.pk, now=now)
    assert decision.direction == "to_zero"
    deployment.refresh_from_db()
    assert deployment.status == "SCALED_TO_ZERO"


def settle_at_zero(deployment):
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "SCALED_TO_ZERO", deployment.status_message
    assert deployment.pending_revision_id is None


@pytest.fixture
def at_zero(templates, member_user, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    to_zero(deployment, member_user)
    return deployment


def test_scale_update_and_rollback_at_zero_wait_for_the_next_wake(at_zero, member_user):
    deployment = at_zero
    slug, llm_before, orchestrator_before = deployment.endpoint_slug, serving(deployment, "llm"), None
    orchestrator_before = serving(deployment, "orchestrator")
    jobs_before = Job.objects.count()

    revision = deployment_services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 2})
    settle_at_zero(deployment)
    llm = serving(deployment, "llm")
    assert deployment.revision == revision.number == 2 and deployment.scale["llm"]["replicas"] == 2
    assert llm.status == "SCALED_TO_ZERO" and llm.resources["replicas"] == 2 and llm.revision == 2
    assert llm.generation == llm_before.generation and llm.outputs == llm_before.outputs  # the same address
    assert Job.objects.count() == jobs_before  # nothing started: no GPU, no cost until a request comes

    # A model change at zero: the LLM waits at zero with the new model; its address stays, so the orchestrator
    # that consumes it runs on untouched (the same job).
    deployment_services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
    settle_at_zero(deployment)
    llm = serving(deployment, "llm")
    assert deployment.revision == 3 and deployment.parameters["model_id"] == NEW_MODEL["model_id"]
    assert llm.status == "SCALED_TO_ZERO" and llm.revision == 3 and llm.generation == llm_before.generation
    assert "Mistral-7B" in str(llm.planned) and "Llama-3.1-8B" not in str(llm.planned["config"])
    assert serving(deployment, "orchestrator").job_id == orchestrator_before.job_id
    assert Job.objects.count() == jobs_before

    # The next wake starts the new spec (new model, two replicas), under the same job name.
    woke_at = timezone.now()
    starts = deployment_wake_up(user=member_user, deployment=deployment, now=woke_at, reason="a request arrived")
    ready_at = woke_at + timedelta(seconds=starts["llm"].total_s + 1)
    for moment in (woke_at, ready_at):  # submitted, then running once its cold start has passed
        with time_machine.travel(moment, tick=False):
            reconciler.deployment_reconcile(deployment_id=deployment.pk)
    woken = serving(deployment, "llm")
    assert woken.status == "RUNNING" and woken.job.name == llm_before.job.name and woken.job.pk != llm_before.job.pk
    assert woken.job.resources["replicas"] == 2 and "Mistral-7B" in str(woken.job.spec)

    # Back to zero, then a rollback to revision 1 there: the first model and one replica, again at zero.
    later = ready_at + timedelta(minutes=30)
    rollups(deployment=deployment, key="llm", end=later, minutes=11, replicas=2, requests=0)
    [decision] = deployment_autoscale(deployment_id=deployment.pk, now=later)
    assert decision.direction == "to_zero", decision.reason
    deployment.refresh_from_db()
    deployment_services.deployment_rollback(user=member_user, deployment=deployment, revision=1)
    settle_at_zero(deployment)
    llm = serving(deployment, "llm")
    assert deployment.revision == 4 and deployment.parameters["model_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert llm.status == "SCALED_TO_ZERO" and llm.resources["replicas"] == 1 and llm.revision == 4
    assert deployment.endpoint_slug == slug


def test_the_plan_at_zero_says_the_wake_starts_it(at_zero, member_user):
    plan = deployment_services.deployment_change_plan(
        user=member_user, deployment=at_zero, change={"scale": {"llm": 3}}
    )
    [llm] = [c for c in plan["components"] if c["key"] == "llm"]
    assert llm["at_zero"] is True and llm["reasons"] == ["it is at zero: the next wake starts it with 3 replicas"]
    assert plan["summary"]["replaced"] == [] and plan["capacity"]["new_parts"] == ["llm"]


def test_the_api_takes_changes_at_zero_and_keeps_the_endpoint(at_zero, member_client, viewer_client, other_client):
    url = f"/api/v1/deployments/{at_zero.pk}"
    endpoint = member_client.get(url).json()["endpoint"]
    assert viewer_client.post(f"{url}/scale", {"scale": {"llm": 2}}, format="json").status_code == 403
    assert other_client.post(f"{url}/scale", {"scale": {"llm": 2}}, format="json").status_code == 404
    assert member_client.post(f"{url}/scale", {"scale": {"llm": 0}}, format="json").status_code == 400
    answer = member_client.post(f"{url}/scale", {"scale": {"llm": 2}}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["endpoint"] == endpoint
    settle_at_zero(at_zero)
    answer = member_client.patch(url, {"parameters": NEW_MODEL}, format="json")
    assert answer.status_code == 202, answer.content
    settle_at_zero(at_zero)
    answer = member_client.post(f"{url}/rollback", {"revision": 1}, format="json")
    assert answer.status_code == 202, answer.content
    settle_at_zero(at_zero)
    body = member_client.get(url).json()
    assert body["status"] == "SCALED_TO_ZERO" and body["revision"] == 4 and body["endpoint"] == endpoint


def test_a_policy_minimum_above_zero_wakes_a_deployment_at_zero(at_zero, member_user, member_client):
    answer = member_client.put(
        f"/api/v1/deployments/{at_zero.pk}/autoscaling", {"components": {"llm": {"min_replicas": 1}}}, format="json"
    )
    assert answer.status_code in (200, 201), answer.content
    wake = at_zero.scaling_decisions.get(direction="wake")
    assert wake.reason.startswith("policy set to llm min 1: 0 → 1 replicas; cold start about")
    assert serving(at_zero, "llm").status != "SCALED_TO_ZERO"
    # A policy that keeps min 0 leaves it at zero.
    to_zero_again = deploy(user=member_user, project=at_zero.project, cluster=at_zero.cluster, name="b", run=True)
    to_zero(to_zero_again, member_user)
    policy_set(user=member_user, deployment=to_zero_again, components={"llm": {"max_replicas": 3}})
    assert serving(to_zero_again, "llm").status == "SCALED_TO_ZERO"
