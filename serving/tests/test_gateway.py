"""The request gateway: keys authenticate, the endpoint routes to whichever row serves, limits and counts hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from autoscaling import endpoint_queue
from deployments import reconciler
from deployments import services as deployment_services
from deployments.models import ComponentDeployment
from serving import services
from serving.gateway import bearer_secret
from serving.models import DeploymentKey, EndpointTraffic
from serving.tests.factories import running_with_key, send
from templates_app.selectors import template_get_for_user
from usecases.tests.factories import make_usecase

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(templates, member_user, project, cluster):
    return running_with_key(user=member_user, project=project, cluster=cluster)


def traffic(deployment) -> dict:
    rows = EndpointTraffic.objects.filter(deployment=deployment)
    return {
        column: sum(getattr(row, column) for row in rows)
        for column in ("served", "unauthorized", "throttled", "unavailable")
    }


def test_a_request_is_answered_by_the_serving_orchestrator_and_counted(served):
    deployment, key, secret = served
    response = send(deployment.endpoint_slug, secret, "v1/chat/completions")
    assert response.status_code == 200, response.content
    body = response.json()
    orchestrator = deployment.components.get(key="orchestrator", retired_at__isnull=True)
    assert body["endpoint"] == deployment.endpoint_slug
    assert body["served_by"]["component"] == "orchestrator"
    assert body["served_by"]["name"] == orchestrator.job.name
    assert body["served_by"]["upstream"] == f"{orchestrator.outputs['url']}/v1/chat/completions"
    assert body["request"] == {"method": "POST", "path": "/v1/chat/completions", "body_bytes": 11}
    assert body["latency"] is None  # not sized for a use case: the performance model predicted nothing
    assert traffic(deployment) == {"served": 1, "unauthorized": 0, "throttled": 0, "unavailable": 0}
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_missing_unknown_and_malformed_keys_are_401_and_counted(served):
    deployment, _, secret = served
    for credential in (None, "ucfd_not-a-key", secret[:-1]):
        response = send(deployment.endpoint_slug, credential)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    other_scheme = Client().post(f"/serve/{deployment.endpoint_slug}/x", HTTP_AUTHORIZATION=f"Token {secret}")
    assert other_scheme.status_code == 401
    assert traffic(deployment)["unauthorized"] == 4
    assert traffic(deployment)["served"] == 0


def test_a_revoked_key_is_refused(served, member_user):
    deployment, key, secret = served
    assert send(deployment.endpoint_slug, secret).status_code == 200
    services.key_revoke(user=member_user, key=key)
    response = send(deployment.endpoint_slug, secret)
    assert response.status_code == 401
    assert response.json()["detail"] == "Revoked key."


def test_a_rotated_keys_old_secret_is_refused_and_the_new_one_works(served, member_user):
    deployment, key, old = served
    _, new = services.key_rotate(user=member_user, key=key)
    assert new != old
    assert send(deployment.endpoint_slug, old).status_code == 401
    assert send(deployment.endpoint_slug, new).status_code == 200


def test_over_the_rate_limit_is_429_with_retry_after_and_counted(templates, member_user, project, cluster):
    deployment, _, secret = running_with_key(user=member_user, project=project, cluster=cluster, rate_limit=3)
    start = timezone.now().replace(second=5, microsecond=0)
    with time_machine.travel(start, tick=False):
        statuses = [send(deployment.endpoint_slug, secret).status_code for _ in range(5)]
        refused = send(deployment.endpoint_slug, secret)
    assert statuses == [200, 200, 200, 429, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert traffic(deployment) == {"served": 3, "unauthorized": 0, "throttled": 3, "unavailable": 0}


def test_the_rate_limit_window_slides(templates, member_user, project, cluster):
    deployment, _, secret = running_with_key(user=member_user, project=project, cluster=cluster, rate_limit=4)
    start = timezone.now().replace(second=50, microsecond=0)
    with time_machine.travel(start, tick=False):
        assert [send(deployment.endpoint_slug, secret).status_code for _ in range(4)] == [200] * 4
    # Halfway through the next clock minute the last 60 s hold ~4 x 30/60 = 2 of them, so two more fit (a fixed
    # window would allow four: a burst of 8 within 40 s).
    with time_machine.travel(start + timedelta(seconds=40), tick=False):
        assert [send(deployment.endpoint_slug, secret).status_code for _ in range(3)] == [200, 200, 429]
    with time_machine.travel(start + timedelta(seconds=130), tick=False):
        assert send(deployment.endpoint_slug, secret).status_code == 200


def test_another_endpoints_key_is_404_like_an_unknown_endpoint(templates, member_user, project, cluster):
    _, _, first_secret = running_with_key(user=member_user, project=project, cluster=cluster, name="first")
    second, _, _ = running_with_key(user=member_user, project=project, cluster=cluster, name="second")
    assert send(second.endpoint_slug, first_secret).status_code == 404
    assert send("no-such-endpoint-00000000", first_secret).status_code == 404
    assert traffic(second)["served"] == 0


def test_another_tenants_key_cannot_reach_this_endpoint(served, other_member_user, other_project, other_cluster):
    deployment, _, _ = served
    _, _, other_secret = running_with_key(
        user=other_member_user, project=other_project, cluster=other_cluster, name="theirs"
    )
    assert send(deployment.endpoint_slug, other_secret).status_code == 404


def test_no_running_component_is_503(served):
    deployment, _, secret = served
    ComponentDeployment.objects.filter(deployment=deployment, key="orchestrator").update(status="STOPPED")
    response = send(deployment.endpoint_slug, secret)
    assert response.status_code == 503
    assert response["Retry-After"] == "5", response.content
    if not endpoint_queue.available():  # the request queue lives in Redis: without it, a plain 503 to retry
        assert "queue" not in response.json()
        assert EndpointTraffic.objects.get(deployment=deployment).unavailable == 1
        return
    assert response.json()["queue"]["position"] == 1, response.json()
    assert EndpointTraffic.objects.get(deployment=deployment).queued == 1


def test_a_deleted_deployments_endpoint_is_404(served, member_user):
    deployment, _, secret = served
    deployment_services.deployment_delete(user=member_user, deployment=deployment)
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    assert send(deployment.endpoint_slug, secret).status_code == 404


def test_the_secret_is_never_stored_in_clear(served):
    _, key, secret = served
    row = DeploymentKey.objects.filter(pk=key.pk).values().get()
    assert secret not in {str(value) for value in row.values()}
    assert all(secret not in str(value) for value in row.values())
    assert row["digest"] == services.key_digest(secret)
    assert row["prefix"] == secret[: services.PREFIX_LENGTH]


def test_get_is_routed_too_and_other_methods_are_405(served):
    deployment, _, secret = served
    client_headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get(f"/serve/{deployment.endpoint_slug}/v1/models", **client_headers).status_code == 200
    assert Client().put(f"/serve/{deployment.endpoint_slug}/x", **client_headers).status_code == 405


def test_bearer_secret_reads_only_the_bearer_scheme():
    assert bearer_secret("Bearer abc") == "abc"
    assert bearer_secret("bearer  abc ") == "abc"
    assert bearer_secret("Token abc") == ""
    assert bearer_secret("") == ""


def test_a_sized_deployment_answers_with_the_latency_the_performance_model_predicted(
    templates, member_user, project, cluster
):
    make_usecase()  # healthcare_001: TTFT <= 2 s, E2E <= 6 s
    deployment, _ = deployment_services.deployment_create(
        user=member_user,
        template=template_get_for_user(user=member_user, template_id="simple-rag-v1"),
        project=project,
        cluster=cluster,
        parameters={"model_id": "meta-llama/Llama-3.1-8B-Instruct"},
        usecase_id="healthcare_001",
        load={"concurrency": 10},
    )
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    _, secret = services.key_create(user=member_user, deployment=deployment, name="ci")
    latency = send(deployment.endpoint_slug, secret).json()["latency"]
    chosen = deployment.plan["sizing"]["components"]["llm"]["chosen"]
    assert latency["component"] == "llm"
    assert (latency["ttft_s"], latency["e2e_s"]) == (chosen["ttft_s"], chosen["e2e_s"])
    assert 0 < latency["ttft_s"] <= 2.0 and latency["e2e_s"] <= 6.0
