"""Changes to a running deployment: plan, update, upgrade, scale, rollback, cancel, each run pass by pass.

Over 400 lines on purpose: every change kind is checked against the same running deployment and the same
roll-out helpers (new-before-old, promote, abandon); the worker-driven versions are in test_lifecycle_worker.py."""

import shutil
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import time_machine
import yaml
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from deployments import reconciler, services
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, bring_up_on_slow_cluster, make_cluster
from jobs.models import Job
from jobs.tests.factories import submit_job
from templates_app.selectors import template_get_for_user

pytestmark = pytest.mark.django_db

NEW_MODEL = {"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}
A100 = "A100-80GB"


def running(user, project, cluster, now=None):
    template = template_get_for_user(user=user, template_id="simple-rag-v1")
    deployment, _ = services.deployment_create(
        user=user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS
    )
    reconciler.deployment_reconcile(deployment_id=deployment.pk, now=now)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING", deployment.status_message
    return deployment


def reconcile(deployment, now=None):
    reconciler.deployment_reconcile(deployment_id=deployment.pk, now=now)
    deployment.refresh_from_db()


def current(deployment):
    rows = deployment.components.filter(retired_at__isnull=True, is_candidate=False).select_related("job")
    return {row.key: row for row in rows}


def candidates(deployment):
    rows = deployment.components.filter(retired_at__isnull=True, is_candidate=True).select_related("job")
    return {row.key: row for row in rows}


def actions(plan):
    return {c["key"]: c["action"] for c in plan["components"]}


@pytest.fixture
def deployment(templates, member_user, project, cluster):
    return running(member_user, project, cluster)


def test_plan_of_a_model_change_replaces_the_llm_and_its_consumer_only(deployment, member_user):
    plan = services.deployment_change_plan(user=member_user, deployment=deployment, change={"parameters": NEW_MODEL})
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "unchanged",
        "llm": "replaced",
        "orchestrator": "replaced",
    }
    llm = next(c for c in plan["components"] if c["key"] == "llm")
    assert {"path": "model_id", "old": SIMPLE_RAG_PARAMS["model_id"], "new": NEW_MODEL["model_id"]} in llm["diff"]
    orchestrator = next(c for c in plan["components"] if c["key"] == "orchestrator")
    assert orchestrator["reasons"] == ["it consumes llm.url, which changes"]
    assert plan["gpus"]["delta"] == {}
    assert Decimal(plan["hourly_cost"]["delta"]) == 0
    assert plan["capacity"]["fits_now"] is True
    assert plan["start_order"] == ["llm", "orchestrator"]
    # nothing written
    assert deployment.revisions.count() == 1
    assert not ComponentDeployment.objects.filter(is_candidate=True).exists()


def test_update_is_new_before_old_and_replaces_only_what_changed(templates, member_user, project, slow_cluster):
    start = timezone.now()
    template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
    with time_machine.travel(start, tick=False):
        deployment, _ = services.deployment_create(
            user=member_user, template=template, project=project, cluster=slow_cluster, parameters=SIMPLE_RAG_PARAMS
        )
    bring_up_on_slow_cluster(deployment.pk, start)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING"
    before = {key: row.job_id for key, row in current(deployment).items()}
    t0 = start + timedelta(seconds=20)
    with time_machine.travel(t0, tick=False):
        revision = services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
        deployment.refresh_from_db()
        assert deployment.status == "UPDATING"
        assert revision.number == 2
        reconcile(deployment)
        assert deployment.status == "UPDATING"
        assert candidates(deployment)["llm"].status == "STARTING"
        assert candidates(deployment)["orchestrator"].status == "PENDING"
        assert "llm (STARTING)" in candidates(deployment)["orchestrator"].status_message
        assert {row.status for row in current(deployment).values()} == {"RUNNING"}  # the old stack serves
    with time_machine.travel(t0 + timedelta(seconds=6), tick=False):
        reconcile(deployment)
        new_llm = candidates(deployment)["llm"]
        assert new_llm.status == "RUNNING"
        assert new_llm.job.name.endswith("-llm-g2")
        orchestrator = candidates(deployment)["orchestrator"]
        assert orchestrator.env["LLM_URL"] == new_llm.outputs["url"]  # re-rendered against the new LLM
        assert orchestrator.env["LLM_URL"] != current(deployment)["llm"].outputs["url"]
        assert current(deployment)["llm"].job.status == "RUNNING"  # old LLM still serving
    with time_machine.travel(t0 + timedelta(seconds=12), tick=False):
        reconcile(deployment)
    assert deployment.status == "RUNNING"
    assert deployment.revision == 2
    assert deployment.parameters["model_id"] == NEW_MODEL["model_id"]
    after = {key: row.job_id for key, row in current(deployment).items()}
    assert after["vector-db"] == before["vector-db"]
    assert after["embedding"] == before["embedding"]
    assert after["llm"] != before["llm"]
    assert after["orchestrator"] != before["orchestrator"]
    assert Job.objects.get(pk=before["llm"]).status == "CANCELLED"
    assert Job.objects.get(pk=before["orchestrator"]).status == "CANCELLED"
    stopped = list(
        DeploymentEvent.objects.filter(deployment=deployment, kind="component_status", data__status="STOPPED")
        .order_by("id")
        .values_list("data__key", flat=True)
    )
    assert stopped == ["orchestrator", "llm"]  # dependents first
    revision.refresh_from_db()
    assert revision.status == "applied"


def test_plan_and_action_agree(deployment, member_user):
    plan = services.deployment_change_plan(user=member_user, deployment=deployment, change={"parameters": NEW_MODEL})
    revision = services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
    assert revision.change["components"] == plan["components"]
    assert set(candidates(deployment)) == {c["key"] for c in plan["components"] if c["action"] != "unchanged"}


def test_failed_replacement_keeps_the_old_component_serving(deployment, member_user, cluster):
    old_llm_job = current(deployment)["llm"].job_id
    cluster.simulation = {**cluster.simulation, "failure_rate": 1.0}
    cluster.save()
    revision = services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
    reconcile(deployment)
    assert deployment.status == "RUNNING"
    assert "Revision 2 (update) failed" in deployment.status_message
    assert "keeps serving" in deployment.status_message
    revision.refresh_from_db()
    assert revision.status == "failed"
    assert deployment.revision == 1
    assert deployment.pending_revision_id is None
    assert current(deployment)["llm"].job_id == old_llm_job
    assert Job.objects.get(pk=old_llm_job).status == "RUNNING"
    assert not candidates(deployment)
    assert DeploymentEvent.objects.filter(deployment=deployment, kind="revision_failed").count() == 1
    assert deployment.parameters["model_id"] == SIMPLE_RAG_PARAMS["model_id"]


def test_scale_up_and_down_resizes_that_component_in_place(deployment, member_user):
    before = {key: row.job_id for key, row in current(deployment).items()}
    llm_url = current(deployment)["llm"].outputs["url"]
    plan = services.deployment_change_plan(
        user=member_user, deployment=deployment, change={"scale": {"llm": {"replicas": 3}}}
    )
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "unchanged",
        "llm": "scaled",
        "orchestrator": "unchanged",
    }
    llm_change = next(c for c in plan["components"] if c["key"] == "llm")
    assert llm_change["scale_mode"] == "add_replicas"
    assert plan["stop_order_after_switch"] == []  # nothing stops: the llm keeps its job
    gpu_type = current(deployment)["llm"].resources["gpu_type"]
    assert plan["gpus"]["delta"] == {gpu_type: 2}
    assert float(plan["hourly_cost"]["delta"]) > 0
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": {"replicas": 3}})
    part = candidates(deployment)["llm"]
    assert part.is_extra_part and part.resources["replicas"] == 2  # only the added replicas
    reconcile(deployment)
    assert deployment.status == "RUNNING"
    llm = current(deployment)["llm"]
    assert llm.job_id == before["llm"]  # the same job, now with 3 replicas
    assert llm.resources["replicas"] == 3
    assert llm.job.resources["replicas"] == 3
    assert llm.outputs["url"] == llm_url  # same address: consumers untouched
    part.refresh_from_db()
    assert (part.status, part.job.status) == ("STOPPED", "CANCELLED")
    assert part.job.status_message == f"Merged into job {llm.job_id} (3 replicas)."
    after = {key: row.job_id for key, row in current(deployment).items()}
    assert after == before
    assert deployment.scale == {"llm": {"replicas": 3}}
    jobs_before_down = Job.objects.filter(usecase_deployment_id=deployment.pk).count()
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 1})
    assert not candidates(deployment)  # fewer replicas need no new part
    reconcile(deployment)
    llm = current(deployment)["llm"]
    assert (llm.job_id, llm.resources["replicas"], llm.job.resources["replicas"]) == (before["llm"], 1, 1)
    assert Job.objects.filter(usecase_deployment_id=deployment.pk).count() == jobs_before_down
    assert deployment.revision == 3
    assert deployment.status == "RUNNING"


def test_scale_up_needs_room_only_for_the_added_replicas(templates, member_user, project, tenant):
    # Two A100s, the llm runs on one: a new 2-replica part beside the old one could never start; an extra part can.
    cluster = make_cluster(tenant=tenant, name="two", gpus={"A100-80GB": 2, "L4": 2, "H100-80GB": 0})
    deployment = running(member_user, project, cluster)
    plan = services.deployment_change_plan(user=member_user, deployment=deployment, change={"scale": {"llm": 2}})
    assert plan["capacity"]["fits_now"] is True
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 2})
    reconcile(deployment)
    assert deployment.status == "RUNNING", deployment.status_message
    assert current(deployment)["llm"].job.resources["replicas"] == 2


def test_scale_beyond_capacity_queues_the_extra_part_with_its_predicted_start(templates, member_user, project, tenant):
    cluster = make_cluster(tenant=tenant, name="small", gpus={"A100-80GB": 2, "L4": 2, "H100-80GB": 0})
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        deployment = running(member_user, project, cluster)
        llm_job = current(deployment)["llm"].job_id
        batch = submit_job(cluster, project, "training", job_type="BATCH", gpu_type=A100, duration_seconds=600)
        assert batch.status == "RUNNING"  # the second A100
        frees_at = start + timedelta(seconds=600)
        plan = services.deployment_change_plan(user=member_user, deployment=deployment, change={"scale": {"llm": 2}})
        assert plan["capacity"]["fits_now"] is False
        assert plan["capacity"]["predicted_start"] == frees_at.isoformat()
        services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 2})
        reconcile(deployment)
    assert deployment.status == "UPDATING"
    part = candidates(deployment)["llm"]
    assert part.status == "QUEUED"
    assert part.status_message.startswith(
        f"Queued on cluster small: position 1, predicted start {frees_at:%Y-%m-%d %H:%M:%S} UTC."
    )
    assert current(deployment)["llm"].job.status == "RUNNING"  # the llm serves meanwhile
    with time_machine.travel(frees_at, tick=False):
        reconcile(deployment)
    assert deployment.status == "RUNNING", deployment.status_message
    llm = current(deployment)["llm"]
    assert (llm.job_id, llm.job.resources["replicas"]) == (llm_job, 2)


def test_scale_down_on_a_full_cluster_frees_capacity_at_once(templates, member_user, project, tenant):
    cluster = make_cluster(tenant=tenant, name="full", gpus={"A100-80GB": 3, "L4": 2, "H100-80GB": 0})
    deployment = running(member_user, project, cluster)
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 3})
    reconcile(deployment)
    assert current(deployment)["llm"].job.resources["replicas"] == 3
    waiting = submit_job(cluster, project, "waiting", gpu_type=A100, gpus=2)
    assert waiting.status == "QUEUED"
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 1})
    reconcile(deployment)
    assert deployment.status == "RUNNING", deployment.status_message
    assert current(deployment)["llm"].job.resources["replicas"] == 1
    waiting.refresh_from_db()
    assert waiting.status == "RUNNING"  # the two freed A100s


def test_scale_of_resources_starts_a_new_part_beside_the_old(deployment, member_user):
    old = current(deployment)["llm"]
    plan = services.deployment_change_plan(
        user=member_user, deployment=deployment, change={"scale": {"llm": {"resources": {"gpu_type": "H100-80GB"}}}}
    )
    assert next(c for c in plan["components"] if c["key"] == "llm")["scale_mode"] == "new_part"
    assert plan["stop_order_after_switch"] == ["llm"]
    services.deployment_scale(
        user=member_user, deployment=deployment, scale={"llm": {"resources": {"gpu_type": "H100-80GB"}}}
    )
    reconcile(deployment)
    assert deployment.status == "RUNNING", deployment.status_message
    llm = current(deployment)["llm"]
    assert llm.job_id != old.job_id and llm.job.resources["gpu_type"] == "H100-80GB"
    assert Job.objects.get(pk=old.job_id).status == "CANCELLED"


def test_a_change_waiting_for_capacity_can_be_cancelled(templates, member_user, member_client, project, tenant):
    cluster = make_cluster(tenant=tenant, name="tight", gpus={"A100-80GB": 1, "L4": 2, "H100-80GB": 0})
    deployment = running(member_user, project, cluster)
    llm_job = current(deployment)["llm"].job_id
    cluster.inventory = {**cluster.inventory, "gpus": {"A100-80GB": 2, "L4": 2, "H100-80GB": 0}}
    cluster.save()
    blocker = submit_job(cluster, project, "blocker", gpu_type=A100)
    assert blocker.status == "RUNNING"  # runs until cancelled: the extra part would wait for ever
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 2})
    reconcile(deployment)
    part = candidates(deployment)["llm"]
    assert part.status == "QUEUED"
    assert member_client.post(f"/api/v1/deployments/{deployment.pk}/scale", {"scale": {"llm": 1}}).status_code == 409
    response = member_client.post(f"/api/v1/deployments/{deployment.pk}/cancel-change")
    assert response.status_code == 200, response.content
    assert response.json()["revision_cancelled"] == 2
    deployment.refresh_from_db()
    assert (deployment.status, deployment.revision, deployment.pending_revision_id) == ("RUNNING", 1, None)
    assert "Revision 2 (scale) cancelled: cancelled by bob-member." in deployment.status_message
    part.refresh_from_db()
    assert part.job.status == "CANCELLED"
    assert DeploymentRevision.objects.get(deployment=deployment, number=2).status == "cancelled"
    assert current(deployment)["llm"].job_id == llm_job
    assert member_client.post(f"/api/v1/deployments/{deployment.pk}/cancel-change").status_code == 409
    # It takes changes again.
    again = member_client.post(f"/api/v1/deployments/{deployment.pk}/scale", {"scale": {"embedding": 2}})
    assert again.status_code == 202


def test_scale_beyond_the_whole_cluster_is_refused_naming_the_component(deployment, member_user):
    from core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 100})
    assert excinfo.value.errors == {"scale.llm": ["Asks for 100 x A100-80GB; the cluster has 16 in total."]}
    assert deployment.revisions.count() == 1


def test_scale_resources_errors_name_the_component(deployment, member_client):
    url = f"/api/v1/deployments/{deployment.pk}/scale"
    response = member_client.post(url, {"scale": {"llm": {"resources": {"gpu_type": "NOPE", "gpu_count": -1}}}})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"scale.llm.resources.gpu_type", "scale.llm.resources.gpu_count"}


def test_rollback_returns_to_an_earlier_revision(deployment, member_user):
    services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
    reconcile(deployment)
    assert deployment.revision == 2
    plan = services.deployment_change_plan(user=member_user, deployment=deployment, change={"rollback_to": 1})
    assert actions(plan)["llm"] == "replaced"
    assert actions(plan)["vector-db"] == "unchanged"
    revision = services.deployment_rollback(user=member_user, deployment=deployment, revision=1)
    reconcile(deployment)
    assert deployment.status == "RUNNING"
    assert deployment.revision == 3
    assert revision.kind == "rollback"
    assert revision.rollback_of == 1
    assert deployment.parameters["model_id"] == SIMPLE_RAG_PARAMS["model_id"]
    assert current(deployment)["llm"].job.spec["model_id"] == SIMPLE_RAG_PARAMS["model_id"]


def test_template_upgrade_shows_and_applies(deployment, member_user, member_client, tmp_path):
    source = Path(settings.BASE_DIR) / "system_templates"
    target = tmp_path / "system_templates"
    shutil.copytree(source, target)
    path = target / "templates" / "rag" / "simple-rag-v1.yaml"
    content = yaml.safe_load(path.read_text())
    content["version"] = "1.1.0"
    embedding = next(c for c in content["components"] if c["id"] == "embedding")
    embedding["config"]["max_client_batch_size"] = 64  # the new version tunes the embedding server
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    call_command("seed_templates", "--path", str(target), stdout=StringIO(), stderr=StringIO())
    body = member_client.get(f"/api/v1/deployments/{deployment.pk}").json()
    assert body["upgrade_available"] == "1.1.0"
    assert body["template_version"] == "1.0.0"
    plan = services.deployment_change_plan(
        user=member_user, deployment=deployment, change={"template_version": "1.1.0"}
    )
    assert plan["kind"] == "upgrade"
    assert actions(plan) == {
        "vector-db": "unchanged",
        "embedding": "replaced",
        "llm": "unchanged",
        "orchestrator": "replaced",
    }
    response = member_client.patch(f"/api/v1/deployments/{deployment.pk}", {"template_version": "1.1.0"}, format="json")
    assert response.status_code == 202, response.json()
    reconcile(deployment)
    body = member_client.get(f"/api/v1/deployments/{deployment.pk}").json()
    assert body["template_version"] == "1.1.0"
    assert body["upgrade_available"] is None
    assert body["revision"] == 2


def test_a_second_change_while_one_runs_is_409(deployment, member_client):
    url = f"/api/v1/deployments/{deployment.pk}"
    first = member_client.patch(url, {"parameters": NEW_MODEL}, format="json")
    assert first.status_code == 202
    assert first.json()["status"] == "UPDATING"
    assert first.json()["revision_started"] == 2
    second = member_client.post(f"{url}/scale", {"scale": {"llm": 2}}, format="json")
    assert second.status_code == 409
    assert second.json()["detail"] == "A change is already rolling out (revision 2)."
    assert DeploymentRevision.objects.filter(deployment=deployment).count() == 2


def test_change_to_a_deleting_deployment_is_409(deployment, member_client, member_user):
    services.deployment_delete(user=member_user, deployment=deployment)
    response = member_client.patch(f"/api/v1/deployments/{deployment.pk}", {"parameters": NEW_MODEL}, format="json")
    assert response.status_code == 409
    response = member_client.post(f"/api/v1/deployments/{deployment.pk}/plan", {"scale": {"llm": 2}}, format="json")
    assert response.status_code == 409


def test_bad_changes_are_400_naming_the_field(deployment, member_client):
    url = f"/api/v1/deployments/{deployment.pk}"
    response = member_client.post(f"{url}/scale", {"scale": {"nope": {"replicas": 2}}}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["scale.nope"]
    response = member_client.post(f"{url}/scale", {"scale": {"llm": {"replicas": 0}}}, format="json")
    assert list(response.json()["errors"]) == ["scale.llm.replicas"]
    response = member_client.patch(url, {"parameters": {"vector_db_size": "7Gi"}}, format="json")
    assert response.status_code == 400
    assert "parameters.vector_db_size" in response.json()["errors"]
    response = member_client.patch(url, {"template_version": "9.9.9"}, format="json")
    assert response.json()["errors"] == {"template_version": ["The template has no version '9.9.9'."]}
    response = member_client.post(f"{url}/rollback", {"revision": 7}, format="json")
    assert response.json()["errors"] == {"revision": ["No revision 7 of this deployment."]}
    response = member_client.patch(url, {"parameters": SIMPLE_RAG_PARAMS}, format="json")
    assert response.json()["errors"] == {"non_field_errors": ["Nothing would change."]}
    response = member_client.patch(url, {"status": "RUNNING"}, format="json")
    assert response.json()["errors"] == {"status": ["Unknown field."]}
    deployment.refresh_from_db()
    assert deployment.revisions.count() == 1
    assert deployment.status == "RUNNING"
    assert not candidates(deployment)


def test_plan_endpoint_writes_nothing(deployment, member_client):
    response = member_client.post(
        f"/api/v1/deployments/{deployment.pk}/plan", {"scale": {"llm": {"replicas": 2}}}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["summary"]["scaled"] == ["llm"]
    assert deployment.revisions.count() == 1
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "RUNNING"


def test_revisions_endpoint(deployment, member_client, member_user):
    services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 2})
    reconcile(deployment)
    body = member_client.get(f"/api/v1/deployments/{deployment.pk}/revisions").json()
    assert [(r["number"], r["kind"], r["status"]) for r in body["results"]] == [
        (1, "create", "applied"),
        (2, "scale", "applied"),
    ]
    assert body["results"][1]["components"]["llm"]["replicas"] == 2
    assert body["results"][1]["created_by"] == member_user.username


def test_lifecycle_endpoints_are_tenant_scoped(deployment, other_client, viewer_client):
    url = f"/api/v1/deployments/{deployment.pk}"
    assert other_client.patch(url, {"parameters": NEW_MODEL}, format="json").status_code == 404
    for action, body in (
        ("plan", {"scale": {"llm": 2}}),
        ("scale", {"scale": {"llm": 2}}),
        ("rollback", {"revision": 1}),
        ("cancel-change", {}),
    ):
        assert other_client.post(f"{url}/{action}", body, format="json").status_code == 404
        assert viewer_client.post(f"{url}/{action}", body, format="json").status_code == 403
    assert other_client.get(f"{url}/revisions").status_code == 404
    assert viewer_client.get(f"{url}/revisions").status_code == 200
    assert viewer_client.patch(url, {"parameters": NEW_MODEL}, format="json").status_code == 403


def test_service_gap_is_zero_across_a_replacement_and_counts_downtime(deployment, member_user):
    from deployments.selectors import service_gap_seconds

    services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
    reconcile(deployment)
    assert service_gap_seconds(deployment_id=deployment.pk, key="llm") == 0
    # a real outage shows: the LLM cancelled behind the deployment's back, measured 30 s later
    from jobs import services as job_services

    job_services.job_cancel(job=current(deployment)["llm"].job, reason="node lost")
    later = timezone.now() + timedelta(seconds=30)
    assert service_gap_seconds(deployment_id=deployment.pk, key="llm", until=later) >= 29


def test_plan_and_revision_mask_secret_values_in_the_diff(templates, member_user, member_client, project, cluster):
    template = template_get_for_user(user=member_user, template_id="simple-agent-v1")
    agent, _ = services.deployment_create(
        user=member_user,
        template=template,
        project=project,
        cluster=cluster,
        parameters={**SIMPLE_RAG_PARAMS, "search_api_key": "old-secret"},
    )
    reconcile(agent)
    change = {"parameters": {"search_api_key": "new-secret"}}
    response = member_client.post(f"/api/v1/deployments/{agent.pk}/plan", change, format="json")
    assert response.status_code == 200
    body = response.content.decode()
    assert "old-secret" not in body and "new-secret" not in body
    tools = next(c for c in response.json()["components"] if c["key"] == "tools")
    assert {"path": "env.SEARCH_API_KEY", "old": "********", "new": "********"} in tools["diff"]
    revision = services.deployment_update(user=member_user, deployment=agent, parameters=change["parameters"])
    assert "new-secret" not in str(revision.change) and "old-secret" not in str(revision.change)
    assert revision.parameters["search_api_key"] == "new-secret"
