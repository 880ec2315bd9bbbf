"""Lifecycle changes driven through the public API and carried out by a real Celery worker process (issue 8).

The tests never run the reconciler themselves: they POST/PATCH like a user and poll the database or the API
until the worker has done the work.
"""

import threading

import pytest
from django.db import connection

from core.testing import client_for, wait_for
from deployments.models import DeploymentRevision, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster, seed_system_template_version
from deployments.tests.test_integration import post_simple_rag
from jobs.models import Cluster, Job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NEW_MODEL = {"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}
NEW_EMBEDDING = {"embedding_model": "BAAI/bge-small-en-v1.5"}
TIMEOUT = 60  # generous: two cores shared with other test runs


@pytest.fixture
def worker(celery_worker_process, templates):
    """A real worker and the seeded system templates."""
    return celery_worker_process


def url(deployment_id, action: str = "") -> str:
    return f"/api/v1/deployments/{deployment_id}" + (f"/{action}" if action else "")


def deploy(client, project, cluster) -> str:
    """simple-rag-v1 deployed through the API and brought to RUNNING by the worker; its id."""
    deployment_id = post_simple_rag(client, project, cluster)
    wait_for(
        lambda: UseCaseDeployment.objects.get(pk=deployment_id).status == "RUNNING", timeout=TIMEOUT, message="RUNNING"
    )
    return deployment_id


def settled(deployment_id, number: int) -> DeploymentRevision:
    """Wait until revision `number` is applied or failed (the worker finished rolling it out)."""
    return wait_for(
        lambda: (
            DeploymentRevision.objects.filter(deployment_id=deployment_id, number=number)
            .exclude(status=DeploymentRevision.Status.PENDING)
            .first()
        ),
        timeout=TIMEOUT,
        message=f"revision {number} settled",
    )


def serving_jobs(client, deployment_id) -> dict[str, str]:
    """Component key -> job id of what serves now, read from the API."""
    components = client.get(url(deployment_id, "components")).json()
    assert len({c["key"] for c in components}) == len(components), "a roll-out is still in progress"
    return {c["key"]: c["job_id"] for c in components}


def jobs_of(deployment_id) -> dict[str, str]:
    """Every job the deployment ever started: job id -> component key."""
    return {
        str(job.pk): job.labels["usecase.component"]
        for job in Job.objects.filter(usecase_deployment_id=deployment_id).order_by("created_at")
    }


def job_status(job_id) -> str:
    return Job.objects.get(pk=job_id).status


def actions(change: dict) -> dict[str, str]:
    return {c["key"]: c["action"] for c in change["components"]}


def test_update_replaces_only_the_changed_component_and_its_consumers(worker, member_user, project, cluster):
    client = client_for(member_user)
    deployment_id = deploy(client, project, cluster)
    before = serving_jobs(client, deployment_id)
    response = client.patch(url(deployment_id), {"parameters": NEW_MODEL}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["revision_started"] == 2
    assert settled(deployment_id, 2).status == "applied"
    after = serving_jobs(client, deployment_id)
    assert after["vector-db"] == before["vector-db"]
    assert after["embedding"] == before["embedding"]
    assert after["llm"] != before["llm"]
    assert after["orchestrator"] != before["orchestrator"]
    new_jobs = {job: key for job, key in jobs_of(deployment_id).items() if job not in before.values()}
    assert sorted(new_jobs.values()) == ["llm", "orchestrator"]  # nothing else was started
    assert {key: job_status(before[key]) for key in before} == {
        "vector-db": "RUNNING",
        "embedding": "RUNNING",
        "llm": "CANCELLED",
        "orchestrator": "CANCELLED",
    }
    detail = client.get(url(deployment_id)).json()
    assert (detail["status"], detail["revision"], detail["pending_revision"]) == ("RUNNING", 2, None)
    assert detail["parameters"]["model_id"] == NEW_MODEL["model_id"]
    assert Job.objects.get(pk=after["llm"]).spec["model_id"] == NEW_MODEL["model_id"]
    components = {c["key"]: c for c in client.get(url(deployment_id, "components")).json()}
    assert components["orchestrator"]["env"]["LLM_URL"] == components["llm"]["outputs"]["url"]


def test_a_failed_replacement_keeps_the_old_component_serving(worker, member_user, project, cluster):
    client = client_for(member_user)
    deployment_id = deploy(client, project, cluster)
    before = serving_jobs(client, deployment_id)
    # From now on every new job on the cluster fails as it starts; jobs already running are not touched.
    Cluster.objects.filter(pk=cluster.pk).update(simulation={**cluster.simulation, "failure_rate": 1.0})
    response = client.patch(url(deployment_id), {"parameters": NEW_MODEL}, format="json")
    assert response.status_code == 202, response.json()
    revision = settled(deployment_id, 2)
    assert revision.status == "failed"
    assert revision.status_message.startswith("llm: Replacement failed: Simulated failure")
    detail = client.get(url(deployment_id)).json()
    assert (detail["status"], detail["revision"], detail["pending_revision"]) == ("RUNNING", 1, None)
    assert detail["status_message"].startswith("Revision 2 (update) failed: llm: Replacement failed: Simulated failure")
    assert "Revision 1 keeps serving." in detail["status_message"]
    assert detail["parameters"]["model_id"] == SIMPLE_RAG_PARAMS["model_id"]
    events = client.get(url(deployment_id, "events")).json()["results"]
    failed = [event for event in events if event["kind"] == "revision_failed"]
    assert len(failed) == 1
    assert "llm: Replacement failed: Simulated failure" in failed[0]["message"]
    assert failed[0]["data"]["component"] == "llm"
    revisions = client.get(url(deployment_id, "revisions")).json()["results"]
    assert [(r["number"], r["status"]) for r in revisions] == [(1, "applied"), (2, "failed")]
    assert serving_jobs(client, deployment_id) == before  # the old parts serve on
    assert {job_status(job) for job in before.values()} == {"RUNNING"}
    new_jobs = {job: key for job, key in jobs_of(deployment_id).items() if job not in before.values()}
    assert list(new_jobs.values()) == ["llm"]  # the orchestrator never started against the broken LLM
    assert job_status(next(iter(new_jobs))) == "FAILED"


def test_rollback_to_revision_1_restores_its_parameters_replacing_only_what_differs(
    worker, member_user, project, cluster
):
    client = client_for(member_user)
    deployment_id = deploy(client, project, cluster)
    original = serving_jobs(client, deployment_id)
    assert client.patch(url(deployment_id), {"parameters": NEW_MODEL}, format="json").status_code == 202
    assert settled(deployment_id, 2).status == "applied"
    updated = serving_jobs(client, deployment_id)
    plan = client.post(url(deployment_id, "plan"), {"rollback_to": 1}, format="json").json()
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "unchanged",
        "llm": "replaced",
        "orchestrator": "replaced",
    }
    response = client.post(url(deployment_id, "rollback"), {"revision": 1}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["revision_started"] == 3
    assert settled(deployment_id, 3).status == "applied"
    detail = client.get(url(deployment_id)).json()
    assert (detail["status"], detail["revision"]) == ("RUNNING", 3)
    assert detail["parameters"] == client.get(url(deployment_id, "revisions")).json()["results"][0]["parameters"]
    assert detail["parameters"]["model_id"] == SIMPLE_RAG_PARAMS["model_id"]
    rolled_back = serving_jobs(client, deployment_id)
    assert rolled_back["vector-db"] == original["vector-db"]
    assert rolled_back["embedding"] == original["embedding"]
    assert rolled_back["llm"] not in (original["llm"], updated["llm"])  # a new job with revision 1's model
    assert Job.objects.get(pk=rolled_back["llm"]).spec["model_id"] == SIMPLE_RAG_PARAMS["model_id"]
    assert job_status(updated["llm"]) == "CANCELLED"
    revision = client.get(url(deployment_id, "revisions")).json()["results"][2]
    assert (revision["kind"], revision["rollback_of"], revision["status"]) == ("rollback", 1, "applied")


def test_plan_then_the_same_change_does_what_the_plan_said(worker, member_user, project, cluster):
    client = client_for(member_user)
    deployment_id = deploy(client, project, cluster)
    before = serving_jobs(client, deployment_id)
    change = {"parameters": NEW_EMBEDDING}
    response = client.post(url(deployment_id, "plan"), change, format="json")
    assert response.status_code == 200, response.json()
    plan = response.json()
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "replaced",
        "llm": "unchanged",
        "orchestrator": "replaced",
    }
    assert client.patch(url(deployment_id), change, format="json").status_code == 202
    assert settled(deployment_id, 2).status == "applied"
    recorded = client.get(url(deployment_id, "revisions")).json()["results"][1]["change"]
    assert recorded["components"] == plan["components"]
    assert recorded["summary"] == plan["summary"]
    for part in ("start_order", "stop_order_after_switch", "gpus", "hourly_cost", "kind", "from_revision"):
        assert recorded[part] == plan[part], part
    started = sorted(key for job, key in jobs_of(deployment_id).items() if job not in before.values())
    assert started == sorted(plan["summary"]["replaced"] + plan["summary"]["added"] + plan["summary"]["scaled"])
    stopped = sorted(key for key, job in before.items() if job_status(job) == "CANCELLED")
    assert stopped == sorted(plan["stop_order_after_switch"])


def test_a_new_template_version_shows_as_upgrade_available_then_upgrades(
    worker, member_user, project, cluster, tmp_path
):
    client = client_for(member_user)
    deployment_id = deploy(client, project, cluster)
    before = serving_jobs(client, deployment_id)
    assert client.get(url(deployment_id)).json()["upgrade_available"] is None

    def tune_embedding(content):
        content["version"] = "1.1.0"
        embedding = next(c for c in content["components"] if c["id"] == "embedding")
        embedding["config"]["max_client_batch_size"] = 64

    seed_system_template_version(tmp_path, "templates/rag/simple-rag-v1.yaml", tune_embedding)
    detail = client.get(url(deployment_id)).json()
    assert (detail["template_version"], detail["upgrade_available"]) == ("1.0.0", "1.1.0")
    response = client.patch(url(deployment_id), {"template_version": "1.1.0"}, format="json")
    assert response.status_code == 202, response.json()
    assert settled(deployment_id, 2).status == "applied"
    detail = client.get(url(deployment_id)).json()
    assert (detail["status"], detail["template_version"], detail["upgrade_available"]) == ("RUNNING", "1.1.0", None)
    assert client.get(url(deployment_id, "revisions")).json()["results"][1]["kind"] == "upgrade"
    components = {c["key"]: c for c in client.get(url(deployment_id, "components")).json()}
    assert components["embedding"]["config"]["max_client_batch_size"] == 64
    assert components["vector-db"]["job_id"] == before["vector-db"]
    assert components["llm"]["job_id"] == before["llm"]
    assert components["embedding"]["job_id"] != before["embedding"]
    assert components["orchestrator"]["env"]["EMBEDDING_URL"] == components["embedding"]["outputs"]["url"]


def test_two_changes_at_the_same_moment_one_is_accepted_the_other_is_409(worker, member_user, project, tenant):
    # A 1 s start-up keeps the first change rolling out while the second arrives.
    cluster = make_cluster(tenant=tenant, name="sim-race", startup=1)
    deployment_id = deploy(client_for(member_user), project, cluster)
    barrier = threading.Barrier(2)
    responses = {}

    def change(name: str, body: dict) -> None:
        client = client_for(member_user)
        # The test client re-raises a view's exception in every client listening (a signal shared by threads);
        # a server error must show as this request's 500 instead.
        client.raise_request_exception = False
        try:
            barrier.wait(timeout=30)
            responses[name] = client.patch(url(deployment_id), body, format="json")
        finally:
            connection.close()  # this thread's own database connection

    threads = [
        threading.Thread(target=change, args=("model", {"parameters": NEW_MODEL})),
        threading.Thread(target=change, args=("embedding", {"parameters": NEW_EMBEDDING})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert sorted(response.status_code for response in responses.values()) == [202, 409], responses
    winner = next(name for name, response in responses.items() if response.status_code == 202)
    loser = next(name for name, response in responses.items() if response.status_code == 409)
    assert responses[winner].json()["revision_started"] == 2
    assert responses[loser].json()["detail"] == "A change is already rolling out (revision 2)."
    assert DeploymentRevision.objects.filter(deployment_id=deployment_id).count() == 2
    assert settled(deployment_id, 2).status == "applied"
    parameters = UseCaseDeployment.objects.get(pk=deployment_id).parameters
    won, lost = (NEW_MODEL, NEW_EMBEDDING) if winner == "model" else (NEW_EMBEDDING, NEW_MODEL)
    assert parameters.items() >= won.items()
    assert not parameters.items() >= lost.items()  # nothing of the refused change was applied


def test_every_lifecycle_endpoint_is_404_for_another_tenant(worker, member_user, other_member_user, project, cluster):
    client, other = client_for(member_user), client_for(other_member_user)
    deployment_id = deploy(client, project, cluster)
    requests = [
        ("post", "plan", {"parameters": NEW_MODEL}),
        ("patch", "", {"parameters": NEW_MODEL}),
        ("post", "scale", {"scale": {"llm": {"replicas": 2}}}),
        ("post", "rollback", {"revision": 1}),
        ("get", "revisions", None),
        ("get", "events", None),
    ]
    for method, action, body in requests:
        response = getattr(other, method)(url(deployment_id, action), body, format="json")
        assert response.status_code == 404, (method, action, response.status_code)
        assert str(deployment_id) not in response.content.decode()
    # The same requests are valid for the owner: the 404s come from the tenant, not from the body.
    assert client.post(url(deployment_id, "plan"), {"parameters": NEW_MODEL}, format="json").status_code == 200
    assert client.get(url(deployment_id, "revisions")).json()["count"] == 1
    deployment = UseCaseDeployment.objects.get(pk=deployment_id)
    assert (deployment.status, deployment.revision, deployment.pending_revision_id) == ("RUNNING", 1, None)
    assert not deployment.components.filter(is_candidate=True).exists()
