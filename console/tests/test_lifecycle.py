"""The lifecycle actions of the deployment status page: update parameters, scale and roll back, each plan first."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command

from deployments import reconciler
from deployments.models import ComponentDeployment, DeploymentRevision, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, deploy
from jobs.validation import MAX_REPLICAS

pytestmark = pytest.mark.django_db

NEW_MODEL = "mistralai/Mistral-7B-Instruct-v0.3"


@pytest.fixture
def running(member_user, templates, project, cluster):
    return deploy(user=member_user, project=project, cluster=cluster, run=True)


def update_data(**overrides):
    data = {
        "template_version": "1.0.0",
        "parameters-model_id": SIMPLE_RAG_PARAMS["model_id"],
        "parameters-embedding_model": "BAAI/bge-base-en-v1.5",
        "parameters-vector_db_size": "50Gi",
    }
    return {**data, **overrides}


def scale_data(**replicas):
    data = {"vector-db": 1, "embedding": 1, "llm": 1, "orchestrator": 1, "step": "plan"}
    return {**data, **replicas}


def candidates(deployment):
    return {row.key: row for row in ComponentDeployment.objects.filter(deployment=deployment, is_candidate=True)}


def rollout(deployment):
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()


def test_detail_shows_the_actions_and_the_revision_history(member_web, running, member_user):
    response = member_web.get(f"/deployments/{running.pk}")
    page = response.content.decode()
    assert f'href="/deployments/{running.pk}/update"' in page
    assert f'href="/deployments/{running.pk}/scale"' in page
    assert f'href="/deployments/{running.pk}/rollback"' not in page  # nothing earlier to return to yet
    assert [r.number for r in response.context["revisions"]] == [1]
    assert '<tr data-revision="1">' in page
    assert "create" in page and member_user.username in page
    assert 'data-testid="upgrade-available"' not in page


def test_update_form_is_prefilled_with_the_current_parameters(member_web, running):
    response = member_web.get(f"/deployments/{running.pk}/update")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'value="{SIMPLE_RAG_PARAMS["model_id"]}"' in page
    assert '<option value="50Gi" selected>' in page
    assert '<option value="1.0.0" selected>1.0.0 (current)</option>' in page
    assert "upgrade available" not in page


def test_update_plan_shows_replaced_components_with_the_diff_and_writes_nothing(member_web, running):
    response = member_web.post(
        f"/deployments/{running.pk}/update", update_data(**{"parameters-model_id": NEW_MODEL, "step": "plan"})
    )
    assert response.status_code == 200
    plan = response.context["plan"]
    assert {c["key"]: c["action"] for c in plan["components"]} == {
        "vector-db": "unchanged",
        "embedding": "unchanged",
        "llm": "replaced",
        "orchestrator": "replaced",
    }
    page = response.content.decode()
    assert '<tr data-key="llm" data-action="replaced">' in page
    assert f"<code>model_id</code>: <del>{SIMPLE_RAG_PARAMS['model_id']}</del> → <ins>{NEW_MODEL}</ins>" in page
    assert "it consumes llm.url, which changes" in page
    assert 'data-testid="plan-cost"' in page and "fits now" in page
    # the values ride along as hidden inputs for the confirmation
    assert f'type="hidden" name="parameters-model_id" value="{NEW_MODEL}"' in page
    assert 'value="confirm"' in page
    assert DeploymentRevision.objects.filter(deployment=running).count() == 1
    assert not candidates(running)


def test_update_plan_of_unchanged_values_says_nothing_would_change(member_web, running):
    response = member_web.post(f"/deployments/{running.pk}/update", update_data(step="plan"))
    assert response.status_code == 200
    assert response.context["plan"]["is_noop"] is True
    page = response.content.decode()
    assert "Nothing would change." in page
    assert 'value="confirm"' not in page


def test_confirmed_update_starts_the_rollout(member_web, running, member_user):
    response = member_web.post(
        f"/deployments/{running.pk}/update",
        update_data(**{"parameters-model_id": NEW_MODEL, "step": "confirm"}),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/deployments/{running.pk}"
    running.refresh_from_db()
    assert running.status == "UPDATING"
    revision = DeploymentRevision.objects.get(deployment=running, number=2)
    assert (revision.kind, revision.status, revision.created_by) == ("update", "pending", member_user)
    assert revision.parameters["model_id"] == NEW_MODEL
    assert set(candidates(running)) == {"llm", "orchestrator"}
    page = response.content.decode()
    assert "Revision 2 (update) is rolling out." in page
    assert 'data-testid="deployment-status">UPDATING<' in page
    assert '<tr data-revision="2">' in page and "pending" in page
    assert 'hx-trigger="every 1s"' in page


def test_update_errors_are_shown_next_to_the_parameter(member_web, running):
    response = member_web.post(
        f"/deployments/{running.pk}/update", update_data(**{"parameters-vector_db_size": "7Gi", "step": "plan"})
    )
    assert response.status_code == 400
    parameters = response.context["forms"].parameters
    assert parameters.errors["vector_db_size"]
    page = response.content.decode()
    assert 'id="id_parameters-vector_db_size_error"' in page
    assert DeploymentRevision.objects.filter(deployment=running).count() == 1


def test_a_second_change_while_one_rolls_out_shows_the_409(member_web, running):
    member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=2, step="confirm"))
    response = member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=3, step="confirm"))
    assert response.status_code == 409
    page = response.content.decode()
    assert "A change is already rolling out (revision 2)." in page
    assert 'data-testid="form-errors"' in page
    assert DeploymentRevision.objects.filter(deployment=running).count() == 2


def test_scale_form_is_prefilled_from_the_running_replicas(member_web, running):
    response = member_web.get(f"/deployments/{running.pk}/scale")
    assert response.status_code == 200
    form = response.context["forms"].form
    assert list(form.fields) == ["vector-db", "embedding", "llm", "orchestrator"]
    assert form["llm"].initial == 1
    assert 'name="llm" value="1"' in response.content.decode()


def test_scale_plan_shows_the_scaled_component_gpus_and_cost(member_web, running):
    response = member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=3))
    assert response.status_code == 200
    plan = response.context["plan"]
    assert plan["scale"] == {"llm": {"replicas": 3}}
    assert {c["key"]: c["action"] for c in plan["components"]}["llm"] == "scaled"
    gpu_type = running.plan["components"][2]["resources"]["gpu_type"]
    page = response.content.decode()
    assert '<tr data-key="llm" data-action="scaled">' in page
    assert f"+2 \u00d7 {gpu_type}" in page
    assert "<code>resources.replicas</code>: <del>1</del> → <ins>3</ins>" in page
    assert "it gains 2 replicas: an extra part starts and joins it once running" in page
    assert "New parts start first (llm) and join the serving ones once running; nothing stops." in page
    assert not candidates(running)


def test_confirmed_scale_reaches_revision_2(member_web, running):
    response = member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=2, step="confirm"))
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.status == "UPDATING"
    assert set(candidates(running)) == {"llm"}
    part = candidates(running)["llm"]
    assert (part.is_extra_part, part.resources["replicas"]) == (True, 1)  # the one replica it adds
    assert DeploymentRevision.objects.get(deployment=running, number=2).kind == "scale"
    rollout(running)
    assert (running.status, running.revision) == ("RUNNING", 2)
    assert running.components.get(key="llm", retired_at__isnull=True).job.resources["replicas"] == 2


def test_scale_errors_are_shown_next_to_the_component(member_web, running):
    response = member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=0))
    assert response.status_code == 400
    assert response.context["forms"].form.errors["llm"] == [f"A whole number from 1 to {MAX_REPLICAS}."]
    assert 'id="id_llm_error"' in response.content.decode()


def test_rollback_plan_and_confirm(member_web, running):
    member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=2, step="confirm"))
    rollout(running)
    detail = member_web.get(f"/deployments/{running.pk}").content.decode()
    assert f'href="/deployments/{running.pk}/rollback"' in detail
    form_page = member_web.get(f"/deployments/{running.pk}/rollback")
    assert form_page.context["forms"].form.fields["revision"].choices[0][0] == 1
    response = member_web.post(f"/deployments/{running.pk}/rollback", {"revision": 1, "step": "plan"})
    assert response.status_code == 200
    assert response.context["plan"]["rollback_to"] == 1
    assert {c["key"]: c["action"] for c in response.context["plan"]["components"]}["llm"] == "scaled"
    assert "Plan: rollback to revision 1" in response.content.decode()
    confirmed = member_web.post(f"/deployments/{running.pk}/rollback", {"revision": 1, "step": "confirm"})
    assert confirmed.status_code == 302
    revision = DeploymentRevision.objects.get(deployment=running, number=3)
    assert (revision.kind, revision.rollback_of) == ("rollback", 1)
    running.refresh_from_db()
    assert running.status == "UPDATING"
    assert candidates(running)["llm"].resources["replicas"] == 1


def test_rollback_to_an_unknown_revision_is_shown_next_to_the_select(member_web, running):
    response = member_web.post(f"/deployments/{running.pk}/rollback", {"revision": 1, "step": "plan"})
    assert response.status_code == 400  # revision 1 runs now: not an earlier one to choose
    assert response.context["forms"].form.errors["revision"]
    assert "There is no earlier revision to roll back to." in response.content.decode()


def test_upgrade_available_is_shown_and_offered(member_web, running, tmp_path):
    source = Path(settings.BASE_DIR) / "system_templates"
    target = tmp_path / "system_templates"
    shutil.copytree(source, target)
    path = target / "templates" / "rag" / "simple-rag-v1.yaml"
    content = yaml.safe_load(path.read_text())
    content["version"] = "1.1.0"
    next(c for c in content["components"] if c["id"] == "embedding")["config"]["max_client_batch_size"] = 64
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    call_command("seed_templates", "--path", str(target), stdout=StringIO(), stderr=StringIO())
    detail = member_web.get(f"/deployments/{running.pk}").content.decode()
    assert 'data-testid="upgrade-available">upgrade available: v1.1.0<' in detail
    form_page = member_web.get(f"/deployments/{running.pk}/update").content.decode()
    assert '<option value="1.1.0">1.1.0 (upgrade available)</option>' in form_page
    response = member_web.post(f"/deployments/{running.pk}/update", update_data(template_version="1.1.0", step="plan"))
    assert response.context["plan"]["kind"] == "upgrade"
    assert "template v1.0.0 → v1.1.0" in response.content.decode()
    member_web.post(f"/deployments/{running.pk}/update", update_data(template_version="1.1.0", step="confirm"))
    assert DeploymentRevision.objects.get(deployment=running, number=2).kind == "upgrade"


def test_viewer_sees_no_actions_and_cannot_post(viewer_web, running):
    page = viewer_web.get(f"/deployments/{running.pk}").content.decode()
    assert "Update parameters…" not in page and "Scale…" not in page
    form_page = viewer_web.get(f"/deployments/{running.pk}/scale").content.decode()
    assert "read-only" in form_page and 'value="plan"' not in form_page
    for action, data in (
        ("update", update_data(**{"parameters-model_id": NEW_MODEL, "step": "confirm"})),
        ("scale", scale_data(llm=2, step="confirm")),
        ("rollback", {"revision": 1, "step": "plan"}),
    ):
        assert viewer_web.post(f"/deployments/{running.pk}/{action}", data).status_code == 403
    assert DeploymentRevision.objects.filter(deployment=running).count() == 1
    assert UseCaseDeployment.objects.get(pk=running.pk).status == "RUNNING"


def test_another_tenants_deployment_is_404_for_every_action(other_web, running):
    for action in ("update", "scale", "rollback"):
        assert other_web.get(f"/deployments/{running.pk}/{action}").status_code == 404
        assert other_web.post(f"/deployments/{running.pk}/{action}", {"step": "confirm"}).status_code == 404
    assert DeploymentRevision.objects.filter(deployment=running).count() == 1


def test_deleted_deployment_offers_no_change(member_web, running):
    UseCaseDeployment.objects.filter(pk=running.pk).update(status="DELETED")
    page = member_web.get(f"/deployments/{running.pk}").content.decode()
    assert "Scale…" not in page
    response = member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=2))
    assert response.status_code == 409
    assert "cannot change" in response.content.decode()


def test_detail_query_count_does_not_grow_with_revisions(
    member_web, running, member_user, django_assert_max_num_queries
):
    with django_assert_max_num_queries(40) as few:
        member_web.get(f"/deployments/{running.pk}")
    baseline = len(few.captured_queries)
    for replicas in (2, 3, 2):
        member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=replicas, step="confirm"))
        rollout(running)
    assert running.revisions.count() == 4
    with django_assert_max_num_queries(baseline):
        response = member_web.get(f"/deployments/{running.pk}")
    assert [r.number for r in response.context["revisions"]] == [4, 3, 2, 1]


def test_secrets_are_not_shown_and_empty_means_unchanged(member_web, member_user, templates, project, cluster):
    from deployments import services
    from templates_app.selectors import template_get_for_user

    template = template_get_for_user(user=member_user, template_id="simple-agent-v1")
    agent, _ = services.deployment_create(
        user=member_user,
        template=template,
        project=project,
        cluster=cluster,
        parameters={"model_id": SIMPLE_RAG_PARAMS["model_id"], "search_api_key": "old-secret"},
    )
    rollout(agent)
    form_page = member_web.get(f"/deployments/{agent.pk}/update").content.decode()
    assert "old-secret" not in form_page
    assert 'type="password" name="parameters-search_api_key"' in form_page
    base = {
        "template_version": "1.0.0",
        "parameters-model_id": SIMPLE_RAG_PARAMS["model_id"],
        "parameters-gpu_type": "A100-80GB",
        "parameters-agent_type": "react",
        "parameters-tools_enabled": ["web_search", "calculator"],
        "parameters-search_api_key": "",
        "step": "plan",
    }
    unchanged = member_web.post(f"/deployments/{agent.pk}/update", base)
    assert unchanged.context["plan"]["is_noop"] is True
    rotated = member_web.post(f"/deployments/{agent.pk}/update", {**base, "parameters-search_api_key": "new-secret"})
    assert rotated.context["plan"]["is_noop"] is False
    assert "new-secret" not in str(rotated.context["plan"]) and "old-secret" not in str(rotated.context["plan"])
    page = rotated.content.decode()
    assert "<code>env.SEARCH_API_KEY</code>: <del>********</del> → <ins>********</ins>" in page
    assert "old-secret" not in page
    member_web.post(
        f"/deployments/{agent.pk}/update", {**base, "parameters-search_api_key": "new-secret", "step": "confirm"}
    )
    revision = DeploymentRevision.objects.get(deployment=agent, number=2)
    assert revision.parameters["search_api_key"] == "new-secret"
    assert revision.parameters["model_id"] == SIMPLE_RAG_PARAMS["model_id"]


def test_a_change_rolling_out_can_be_cancelled_from_the_status_page(member_web, running):
    member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=2, step="confirm"))  # not reconciled yet
    page = member_web.get(f"/deployments/{running.pk}").content.decode()
    assert 'data-testid="cancel-change"' in page
    response = member_web.post(f"/deployments/{running.pk}/cancel-change", follow=True)
    assert response.status_code == 200
    assert "Revision 2 (scale) was cancelled." in response.content.decode()
    running.refresh_from_db()
    assert (running.status, running.revision, running.pending_revision_id) == ("RUNNING", 1, None)
    assert not candidates(running) or all(c.retired_at for c in candidates(running).values())
    assert 'data-testid="cancel-change"' not in member_web.get(f"/deployments/{running.pk}").content.decode()
    again = member_web.post(f"/deployments/{running.pk}/cancel-change", follow=True)
    assert "No change is rolling out" in again.content.decode()


def test_cancel_change_is_for_writers_of_the_tenant(viewer_web, other_web, running):
    assert viewer_web.post(f"/deployments/{running.pk}/cancel-change").status_code == 403
    assert other_web.post(f"/deployments/{running.pk}/cancel-change").status_code == 404


def test_during_a_roll_out_the_status_page_tells_serving_and_new_parts_apart(member_web, running):
    data = update_data(**{"parameters-model_id": NEW_MODEL}, step="confirm")
    member_web.post(f"/deployments/{running.pk}/update", data)
    running.refresh_from_db()
    assert running.status == "UPDATING"
    response = member_web.get(f"/deployments/{running.pk}")
    page = response.content.decode()
    assert page.count('<tr data-key="llm" data-role="serving">') == 1
    assert page.count('<tr data-key="llm" data-role="candidate">') == 1
    assert "new part · revision 2" in page
    graph = {node.key: node.status for node in response.context["graph"].nodes}
    assert graph["llm"] == "RUNNING"  # the part that serves, not the candidate waiting to start
    delete = member_web.get(f"/deployments/{running.pk}/delete")
    keys = [item["row"].key for wave in delete.context["waves"] for item in wave]
    assert sorted(keys) == ["embedding", "llm", "orchestrator", "vector-db"]  # one entry per component


def test_the_plan_says_what_stops_and_when_nothing_starts(member_web, running):
    running.scale = {"llm": {"replicas": 2}}  # as if scaled before: scaling down starts nothing
    llm = running.components.get(key="llm", retired_at__isnull=True)
    llm.resources = {**llm.resources, "replicas": 2}
    llm.save()
    page = member_web.post(f"/deployments/{running.pk}/scale", scale_data(llm=1)).content.decode()
    assert "it drops 1 replica in place" in page
    assert "No new part starts: the change applies in place at once." in page
    data = update_data(**{"parameters-model_id": NEW_MODEL})
    page = member_web.post(f"/deployments/{running.pk}/update", {**data, "step": "plan"}).content.decode()
    assert "the old ones keep serving until all of them run, then stop (llm, orchestrator)." in page
