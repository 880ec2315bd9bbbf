"""What a new user tripped on in the console (issue 14): every problem shown at once, preselected choices, labels
for people, the newest event first, progress, new parts in the graph, copyable outputs, SLO import and export."""

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile

from console.tests.test_lifecycle import NEW_MODEL, update_data
from deployments.models import DeploymentEvent
from deployments.tests.factories import deploy
from tenancy.tests.factories import ProjectFactory
from usecases.models import UseCase
from usecases.tests.factories import make_usecase

pytestmark = pytest.mark.django_db


def test_one_submit_reports_the_missing_cluster_and_the_missing_parameter_together(
    member_web, templates, project, cluster
):
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1", {"project": str(project.pk), "cluster": "", "name": "", "idempotency_key": ""}
    )
    assert response.status_code == 400
    assert "cluster" in response.context["target"].errors
    assert response.context["parameter_form"].errors["model_id"] == ["This parameter is required."]
    preview = member_web.post("/usecases/deploy/simple-rag-v1/preview", {"project": str(project.pk)})
    labels = [label for _, label, _ in preview.context["problems"]]
    assert "Cluster" in labels and "LLM Model" in labels


def test_the_only_cluster_and_project_are_preselected(member_web, templates, tenant, project, cluster):
    target = member_web.get("/usecases/deploy/simple-rag-v1").context["target"]
    assert target["cluster"].value() == cluster.pk
    assert target["project"].value() == project.pk
    ProjectFactory(tenant=tenant, name="second")
    assert member_web.get("/usecases/deploy/simple-rag-v1").context["target"]["project"].value() is None


def test_wizard_labels_are_for_people_and_the_model_field_suggests_models(
    member_web, member_user, templates, project, cluster
):
    deploy(user=member_user, project=project, cluster=cluster)  # a model in use is suggested too
    page = member_web.get("/usecases/deploy/simple-rag-v1").content.decode()
    assert "model_ref" not in page and '<span class="type">' not in page
    assert 'list="id_parameters-model_id_suggestions"' in page
    datalist = page[page.index('<datalist id="id_parameters-model_id_suggestions">') :].split("</datalist>")[0]
    assert '<option value="meta-llama/Llama-3.1-8B-Instruct">' in datalist
    assert '<option value="Qwen/Qwen2.5-7B-Instruct">' in datalist


def test_template_page_shows_types_in_words_and_defaults_as_json(member_web, templates):
    page = member_web.get("/usecases/simple-agent-v1").content.decode()
    assert "<td>model</td>" in page and "model_ref" not in page
    assert "[&#x27;" not in page and "{&#x27;" not in page  # no Python repr of a list or dict default


def test_categories_and_deployment_types_are_named_for_people(member_web, templates):
    page = member_web.get("/components").content.decode()
    assert "Vector database" in page and "Vector Db" not in page and "Llm" not in page
    detail = member_web.get("/components/qdrant").content.decode()
    assert "Helm chart" in detail
    assert "{&#x27;" not in detail  # default values as JSON, not a Python dict
    assert "RAG" in member_web.get("/usecases/simple-rag-v1").content.decode()


def test_admin_names_each_app_for_people(staff_web):
    page = staff_web.get("/admin/").content.decode()
    assert "Use case templates" in page and "Templates_App" not in page


def test_timeline_is_newest_first_and_polls_prepend(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    response = member_web.get(f"/deployments/{deployment.pk}")
    ids = [event.id for event in response.context["events"]]
    assert ids == sorted(ids, reverse=True) and len(ids) > 3
    page = response.content.decode()
    assert page.index(f'id="event-{ids[0]}"') < page.index(f'id="event-{ids[-1]}"')
    newest = DeploymentEvent.objects.create(deployment=deployment, kind="note", message="later")
    live = member_web.get(f"/deployments/{deployment.pk}/live?after={ids[0]}").content.decode()
    assert 'hx-swap-oob="afterbegin:#timeline"' in live and f'id="event-{newest.id}"' in live


def test_progress_shows_while_the_stack_comes_up(member_web, member_user, templates, project, slow_cluster):
    deployment = deploy(user=member_user, project=project, cluster=slow_cluster)
    page = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    assert 'data-testid="deployment-progress"' in page
    assert "0 of 4 components running" in page and '<progress id="progress-bar" max="4" value="0">' in page


def test_new_parts_of_an_update_appear_in_the_graph(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    member_web.post(
        f"/deployments/{deployment.pk}/update", update_data(**{"parameters-model_id": NEW_MODEL}, step="confirm")
    )
    response = member_web.get(f"/deployments/{deployment.pk}")
    graph = {node.key: node for node in response.context["graph"].nodes}
    assert "llm (new)" in graph and graph["llm"].status == "RUNNING"
    assert graph["llm (new)"].x == graph["llm"].x  # in its component's column
    assert graph["llm (new)"].status == "PENDING"  # the new part, coloured by its own state
    assert 'data-key="llm (new)"' in response.content.decode()
    assert "1 new parts running" not in response.content.decode()


def test_outputs_are_copyable_text_not_links(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    page = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    assert "svc.cluster.local" in page
    assert 'href="http://' not in page
    row = page[page.index('<tr data-key="llm"') :].split("</tr>")[0]
    assert '<code data-output="url">http://' in row
    assert '<button type="button" class="copy" data-copy="http://' in row


def test_every_page_has_a_favicon_and_a_dark_scheme(member_web, client):
    page = member_web.get("/").content.decode()
    assert 'rel="icon" href="/static/console/favicon.svg"' in page
    assert "prefers-color-scheme: dark" in Path(finders.find("console/console.css")).read_text()
    assert finders.find("console/favicon.svg")


def test_slo_list_exports_the_filtered_set_as_an_import_file(member_web):
    make_usecase(unique_id="hc_one", name="Patient Summarization", industry="Healthcare")
    make_usecase(unique_id="fin_one", name="Fraud Review", industry="Finance")
    page = member_web.get("/slo", {"industry": "Healthcare"}).content.decode()
    assert 'href="/slo/export?industry=Healthcare"' in page
    response = member_web.get("/slo/export", {"industry": "Healthcare"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="usecases-')
    assert [entry["unique_id"] for entry in json.loads(response.content)["usecases"]] == ["hc_one"]


def test_slo_import_dry_runs_then_imports(member_web, member_user):
    make_usecase(unique_id="hc_one", name="Patient Summarization", industry="Healthcare")
    exported = json.loads(member_web.get("/slo/export").content)
    exported["usecases"][0]["unique_id"] = "hc_two"
    assert member_web.post("/slo/import", {"file": _upload(exported)}).status_code == 403
    member_user.user_permissions.add(*Permission.objects.filter(codename__in=["add_usecase", "change_usecase"]))
    assert 'href="/slo/import"' in member_web.get("/slo").content.decode()
    dry = member_web.post("/slo/import", {"file": _upload(exported), "dry_run": "on"})
    assert dry.status_code == 200 and dry.context["report"]["created"] == 1
    assert not UseCase.objects.filter(unique_id="hc_two").exists()
    real = member_web.post("/slo/import", {"file": _upload(exported)})
    assert real.context["report"]["written"] and UseCase.objects.filter(unique_id="hc_two").exists()
    exported["usecases"][0]["input_tokens_min"] = -1
    refused = member_web.post("/slo/import", {"file": _upload(exported)})
    assert refused.status_code == 400 and "input_tokens_min" in refused.content.decode()
    broken = member_web.post("/slo/import", {"file": SimpleUploadedFile("x.json", b"{nope")})
    assert broken.status_code == 400 and "Not a JSON file" in broken.content.decode()


def _upload(data) -> SimpleUploadedFile:
    return SimpleUploadedFile("usecases.json", json.dumps(data).encode(), content_type="application/json")


def test_the_wizard_puts_the_gpu_type_error_next_to_its_field(member_web, templates, project, cluster):
    data = {"project": str(project.pk), "cluster": str(cluster.pk), "name": "", "idempotency_key": ""}
    data.update({"parameters-model_id": "m/x", "parameters-gpu_type": "L40S", "parameters-agent_type": "react"})
    data["parameters-tools_enabled"] = ["calculator"]
    response = member_web.post("/usecases/deploy/simple-agent-v1", data)
    assert response.status_code == 400
    assert "L40S is required and not on this cluster" in response.context["parameter_form"].errors["gpu_type"][0]


def test_bad_name_from_the_console_suggests_a_valid_one(member_web, templates, project, cluster):
    data = {"project": str(project.pk), "cluster": str(cluster.pk), "name": "Bad Name!!", "idempotency_key": ""}
    data["parameters-model_id"] = "m/x"
    response = member_web.post("/usecases/deploy/simple-rag-v1", data)
    assert response.status_code == 400
    assert "For example 'bad-name'." in response.context["target"].errors["name"][0]
