import pytest

from deployments.models import UseCaseDeployment
from deployments.tests.factories import PRICES, make_cluster
from jobs.models import ClusterSet
from templates_app.models import UseCaseTemplate

pytestmark = pytest.mark.django_db

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def wizard_data(project, cluster, **parameters):
    data = {"project": str(project.pk), "cluster": str(cluster.pk), "name": "", "idempotency_key": ""}
    data.update({f"parameters-{name}": value for name, value in parameters.items()})
    return data


def test_wizard_scopes_projects_and_clusters_to_the_users_tenants(
    member_web, templates, project, cluster, other_project, other_cluster
):
    response = member_web.get("/usecases/deploy/simple-rag-v1")
    assert response.status_code == 200
    target = response.context["target"]
    assert list(target.fields["project"].queryset) == [project]
    assert list(target.fields["cluster"].queryset) == [cluster]
    page = response.content.decode()
    assert str(other_cluster.pk) not in page
    assert str(other_project.pk) not in page


def test_parameter_form_follows_the_schema(member_web, templates, project, cluster):
    page = member_web.get("/usecases/deploy/simple-rag-v1").content.decode()
    # required mark and attribute on the model, a select with the options for the size, the default preselected
    assert 'name="parameters-model_id"' in page
    assert 'aria-required="true"' in page
    assert '<select name="parameters-vector_db_size"' in page
    assert '<option value="50Gi" selected>50Gi</option>' in page
    assert 'value="BAAI/bge-base-en-v1.5"' in page


def test_secret_parameters_are_password_inputs(member_web, templates, project, cluster):
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    template.parameters = [*template.parameters, {"name": "api_key", "type": "secret", "label": "API key"}]
    template.save()
    page = member_web.get("/usecases/deploy/simple-rag-v1").content.decode()
    assert 'type="password" name="parameters-api_key"' in page


def test_typed_parameters_render_as_number_checkbox_and_list_inputs(member_web, templates):
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    template.parameters = [
        *template.parameters,
        {"name": "replicas", "type": "integer", "min": 1, "max": 4, "default": 1},
        {"name": "stream", "type": "boolean", "default": True},
        {"name": "tools", "type": "list", "options": ["search", "calc"], "default": ["search"]},
    ]
    template.save()
    page = member_web.get("/usecases/deploy/simple-rag-v1").content.decode()
    assert 'type="number" name="parameters-replicas"' in page
    assert 'min="1"' in page and 'max="4"' in page
    assert 'type="checkbox" name="parameters-stream"' in page
    assert 'name="parameters-tools" value="search"' in page


def test_preview_shows_start_order_gpus_capacity_and_cost(member_web, templates, project, cluster):
    response = member_web.post("/usecases/deploy/simple-rag-v1/preview", wizard_data(project, cluster, model_id=MODEL))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview["waves"][-1] == ["orchestrator"]
    page = response.content.decode()
    assert "Wave 2" in page and "<code>orchestrator</code>" in page
    assert "H100-80GB" in page or "A100-80GB" in page or "L4" in page
    assert "fits now" in page
    assert f"${float(preview['estimated_hourly_cost']):,.2f} / hour" in page
    assert not UseCaseDeployment.objects.exists()


def test_preview_links_each_problem_to_its_input(member_web, templates, project, cluster):
    response = member_web.post("/usecases/deploy/simple-rag-v1/preview", wizard_data(project, cluster))
    assert response.status_code == 200
    assert response.context["preview"] is None
    assert '<a href="#id_parameters-model_id">LLM Model</a>: This parameter is required.' in response.content.decode()


def test_deploy_creates_the_deployment_and_opens_its_status_page(member_web, member_user, templates, project, cluster):
    data = wizard_data(project, cluster, model_id=MODEL, vector_db_size="10Gi")
    data["name"] = "my-rag"
    response = member_web.post("/usecases/deploy/simple-rag-v1", data)
    deployment = UseCaseDeployment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}"
    assert deployment.name == "my-rag"
    assert deployment.created_by == member_user
    assert deployment.parameters["vector_db_size"] == "10Gi"
    assert deployment.parameters["embedding_model"] == "BAAI/bge-base-en-v1.5"  # left to its default
    assert deployment.components.count() == 4


def test_a_double_submit_creates_one_deployment(member_web, templates, project, cluster):
    data = wizard_data(project, cluster, model_id=MODEL)
    data["idempotency_key"] = "form-1"
    first = member_web.post("/usecases/deploy/simple-rag-v1", data)
    second = member_web.post("/usecases/deploy/simple-rag-v1", data)
    assert first["Location"] == second["Location"]
    assert UseCaseDeployment.objects.count() == 1


def test_service_errors_are_shown_next_to_their_parameter(member_web, templates, project, cluster):
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1", wizard_data(project, cluster, model_id="{{ 7 * 7 }}", vector_db_size="50Gi")
    )
    assert response.status_code == 400
    form = response.context["parameter_form"]
    assert "Template expressions" in form.errors["model_id"][0]
    page = response.content.decode()
    field_html = page[page.index('id="id_parameters-model_id"') :][:800]
    assert 'id="id_parameters-model_id_error"' in field_html
    assert not UseCaseDeployment.objects.exists()


def test_missing_required_parameter_is_reported_on_the_field(member_web, templates, project, cluster):
    response = member_web.post("/usecases/deploy/simple-rag-v1", wizard_data(project, cluster))
    assert response.status_code == 400
    assert response.context["parameter_form"].errors["model_id"] == ["This parameter is required."]


def test_type_errors_are_caught_by_the_form(member_web, templates, project, cluster):
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    template.parameters = [*template.parameters, {"name": "replicas", "type": "integer", "min": 1, "max": 4}]
    template.save()
    response = member_web.post(
        "/usecases/deploy/simple-rag-v1", wizard_data(project, cluster, model_id=MODEL, replicas="lots")
    )
    assert response.status_code == 400
    assert "replicas" in response.context["parameter_form"].errors
    too_many = member_web.post(
        "/usecases/deploy/simple-rag-v1", wizard_data(project, cluster, model_id=MODEL, replicas="9")
    )
    assert "Must be at most 4 (got 9)." in too_many.context["parameter_form"].errors["replicas"][0]


def test_another_tenants_cluster_is_rejected_on_the_cluster_field(member_web, templates, project, other_cluster):
    response = member_web.post("/usecases/deploy/simple-rag-v1", wizard_data(project, other_cluster, model_id=MODEL))
    assert response.status_code == 400
    assert "cluster" in response.context["target"].errors
    assert not UseCaseDeployment.objects.exists()


def test_a_cluster_that_can_never_fit_is_reported_on_the_cluster_field(member_web, templates, project, tenant):
    from deployments.tests.factories import make_cluster

    tiny = make_cluster(tenant=tenant, name="tiny", cpu_cores=1, memory_gib=1)
    response = member_web.post("/usecases/deploy/simple-rag-v1", wizard_data(project, tiny, model_id=MODEL))
    assert response.status_code == 400
    assert "never fit" in response.context["target"].errors["cluster"][0]


def test_errors_without_a_field_are_shown_above_the_form(member_web, templates, project, tenant):
    from deployments.tests.factories import make_cluster

    no_gpus = make_cluster(tenant=tenant, name="no-gpus", gpus={})
    response = member_web.post("/usecases/deploy/simple-rag-v1", wizard_data(project, no_gpus, model_id=MODEL))
    assert response.status_code == 400
    # placement (sizing.placement) finds no GPU type for the embedding server, and says why
    assert "the cluster has no GPUs" in response.context["target"].non_field_errors()[0]
    assert "the cluster has no GPUs" in response.content.decode()


def test_viewer_sees_the_wizard_but_cannot_deploy(viewer_web, templates, project, cluster):
    page = viewer_web.get("/usecases/deploy/simple-rag-v1")
    assert page.status_code == 200
    assert "read-only" in page.content.decode()
    response = viewer_web.post("/usecases/deploy/simple-rag-v1", wizard_data(project, cluster, model_id=MODEL))
    assert response.status_code == 400
    assert not UseCaseDeployment.objects.exists()


def test_the_wizard_can_target_a_cluster_set(member_web, templates, project, tenant):
    dear = make_cluster(tenant=tenant, name="dear")
    cheap = make_cluster(tenant=tenant, name="cheap")
    cheap.prices = {**PRICES, "gpu_hour": {k: v / 2 for k, v in PRICES["gpu_hour"].items()}}
    cheap.save()
    cluster_set = ClusterSet.objects.create(tenant=tenant, name="both")
    cluster_set.clusters.set([dear, cheap])
    data = wizard_data(project, dear, model_id=MODEL)
    data.update(cluster="", cluster_set=str(cluster_set.pk), strategy="lowest_cost")
    response = member_web.post("/usecases/deploy/simple-rag-v1/preview", data)
    page = response.content.decode()
    assert "Cluster set: cheap costs least (runner-up dear)." in page
    assert 'data-testid="placement"' in page
    response = member_web.post("/usecases/deploy/simple-rag-v1", data)
    assert response.status_code == 302
    assert UseCaseDeployment.objects.get().cluster == cheap
    both = wizard_data(project, dear, model_id=MODEL)
    both["cluster_set"] = str(cluster_set.pk)
    response = member_web.post("/usecases/deploy/simple-rag-v1", both)
    assert response.status_code == 400
    assert "cluster" in response.context["target"].errors
