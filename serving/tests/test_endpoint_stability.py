"""A deployment's endpoint is the same through an update, a rollback and a scale, while the component behind it
changes (a new job at a new address each time it is replaced): clients are never reconfigured."""

from __future__ import annotations

import pytest

from deployments import reconciler
from deployments import services as deployment_services
from serving.tests.factories import running_with_key, send

pytestmark = pytest.mark.django_db

NEW_MODEL = {"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}


def settle(deployment):
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING", deployment.status_message
    assert deployment.pending_revision_id is None


def observed(member_client, deployment, secret) -> tuple[str, dict]:
    """The endpoint the API shows, and who a request sent to it reached."""
    endpoint = member_client.get(f"/api/v1/deployments/{deployment.pk}").json()["endpoint"]
    response = send(deployment.endpoint_slug, secret)
    assert response.status_code == 200, response.content
    return endpoint, response.json()["served_by"]


def test_the_endpoint_survives_update_rollback_and_scale(templates, member_user, member_client, project, cluster):
    deployment, _, secret = running_with_key(user=member_user, project=project, cluster=cluster)
    endpoint, first = observed(member_client, deployment, secret)
    assert endpoint == f"http://testserver/serve/{deployment.endpoint_slug}/"
    assert deployment.endpoint_slug.startswith("my-rag-")
    seen = [first]

    # A model change replaces the LLM and its consumer, the orchestrator: a new job at a new address.
    deployment_services.deployment_update(user=member_user, deployment=deployment, parameters=NEW_MODEL)
    settle(deployment)
    after_update = observed(member_client, deployment, secret)
    seen.append(after_update[1])

    deployment_services.deployment_rollback(user=member_user, deployment=deployment, revision=1)
    settle(deployment)
    after_rollback = observed(member_client, deployment, secret)
    seen.append(after_rollback[1])

    deployment_services.deployment_scale(user=member_user, deployment=deployment, scale={"orchestrator": 3})
    settle(deployment)
    after_scale = observed(member_client, deployment, secret)
    seen.append(after_scale[1])

    assert {after_update[0], after_rollback[0], after_scale[0]} == {endpoint}
    names = [served["name"] for served in seen]
    assert len(set(names[:3])) == 3, names  # three different orchestrator jobs behind one endpoint
    assert [served["revision"] for served in seen[:3]] == [1, 2, 3]
    current = deployment.components.get(key="orchestrator", retired_at__isnull=True, is_candidate=False)
    assert seen[-1]["name"] == current.job.name
    assert current.job.resources["replicas"] == 3
