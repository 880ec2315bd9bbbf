"""Errors that say what is wrong, once, in JSON terms, under the name the client sent (issue 14)."""

import pytest

from deployments import reconciler
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.tests.test_api import body
from jobs.models import Job
from templates_app.models import UseCaseTemplate

pytestmark = pytest.mark.django_db


def post(client, project, cluster, path="/api/v1/deployments", **extra):
    return client.post(path, body(project, cluster, **extra), format="json")


def test_a_number_for_a_string_parameter_is_one_error_in_json_terms(templates, member_client, project, cluster):
    response = post(member_client, project, cluster, parameters={"model_id": 123})
    assert response.status_code == 400
    assert response.json()["errors"] == {"parameters.model_id": ["Must be a string (got 123)."]}


def test_true_for_an_integer_parameter_says_so_in_json_terms(templates, member_client, project, cluster):
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    template.parameters = [*template.parameters, {"name": "replicas", "type": "integer", "min": 1, "max": 4}]
    template.save()
    parameters = {"model_id": "m/x", "replicas": True}
    response = post(member_client, project, cluster, path="/api/v1/deployments/preview", parameters=parameters)
    assert response.json()["errors"] == {"parameters.replicas": ["Must be an integer (got true)."]}
    parameters["replicas"] = 9
    response = post(member_client, project, cluster, path="/api/v1/deployments/preview", parameters=parameters)
    assert response.json()["errors"] == {"parameters.replicas": ["Must be at most 4 (got 9)."]}


def test_a_template_expression_is_still_refused(templates, member_client, project, cluster):
    response = post(member_client, project, cluster, parameters={"model_id": "{{ 7 * 7 }}"})
    assert "Template expressions" in response.json()["errors"]["parameters.model_id"][0]


def test_a_missing_deployment_is_named_as_the_api_names_it(member_client):
    response = member_client.get("/api/v1/deployments/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"detail": "Deployment not found.", "errors": {}}


def test_a_missing_job_and_project_are_named_too(member_client, cluster):
    missing = "00000000-0000-0000-0000-000000000000"
    assert member_client.get(f"/api/v1/projects/{missing}").json()["detail"] == "Project not found."
    job = member_client.get(f"/api/v1/clusters/{cluster.pk}/jobs/{missing}").json()
    assert job["detail"] == "Job not found."


def test_a_gpu_type_the_cluster_lacks_is_reported_on_the_parameter(templates, member_client, project, cluster):
    parameters = {"model_id": "m/x", "gpu_type": "L40S"}
    for path in ("/api/v1/deployments/preview", "/api/v1/deployments"):
        response = post(
            member_client, project, cluster, path=path, template_id="simple-agent-v1", parameters=parameters
        )
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert list(errors) == ["parameters.gpu_type"]  # where the client (and the wizard) gave it
        assert "L40S is required and not on this cluster" in errors["parameters.gpu_type"][0]


def _changed_twice(member_client, project, cluster) -> str:
    """A RUNNING simple-rag whose llm was replaced by an update and then replaced again: its third row."""
    data = post(member_client, project, cluster).json()
    reconciler.deployment_reconcile(deployment_id=data["id"])
    for model in ("Qwen/Qwen2.5-7B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3"):
        change = {"parameters": {"model_id": model}}
        assert member_client.patch(f"/api/v1/deployments/{data['id']}", change, format="json").status_code == 202
        for _ in range(3):
            reconciler.deployment_reconcile(deployment_id=data["id"])
    assert UseCaseDeployment.objects.get(pk=data["id"]).status == "RUNNING"
    return data["id"]


def test_attempt_counts_tries_of_a_part_not_changes(templates, member_client, project, cluster):
    deployment_id = _changed_twice(member_client, project, cluster)
    llm = ComponentDeployment.objects.get(deployment_id=deployment_id, key="llm", retired_at__isnull=True)
    assert llm.attempt == 3  # its third row
    detail = member_client.get(f"/api/v1/deployments/{deployment_id}").json()
    assert {c["key"]: c["attempt"] for c in detail["components"]}["llm"] == 1


def test_a_part_made_by_changes_is_still_retried_when_it_fails(templates, member_client, project, cluster):
    deployment_id = _changed_twice(member_client, project, cluster)
    llm = ComponentDeployment.objects.get(deployment_id=deployment_id, key="llm", retired_at__isnull=True)
    Job.objects.filter(pk=llm.job_id).update(status="FAILED", status_message="node lost")
    reconciler.deployment_reconcile(deployment_id=deployment_id)
    retry = ComponentDeployment.objects.get(deployment_id=deployment_id, key="llm", retired_at__isnull=True)
    assert retry.pk != llm.pk and retry.try_number == 2
    assert "Retrying" in retry.status_message and "(attempt 2 of 3)" in retry.status_message
