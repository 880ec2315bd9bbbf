"""What a new user tripped on in the deployments API (issue 14): names that collide as addresses, an
Idempotency-Key replayed for another body, errors under another name than the client sent."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from deployments import reconciler
from deployments.models import UseCaseDeployment
from deployments.tests.test_api import body, create

pytestmark = pytest.mark.django_db


def test_a_name_live_on_the_cluster_is_refused_on_the_name_field(templates, member_client, project, cluster):
    create(member_client, project, cluster, name="my-rag")
    response = member_client.post("/api/v1/deployments", body(project, cluster, name="my-rag"), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    assert "already runs on cluster sim-a" in response.json()["errors"]["name"][0]
    assert UseCaseDeployment.objects.filter(name="my-rag").count() == 1


def test_a_deleted_deployment_frees_its_name(templates, member_client, project, cluster):
    first = create(member_client, project, cluster, name="my-rag")
    UseCaseDeployment.objects.filter(pk=first["id"]).update(status="DELETED")
    assert create(member_client, project, cluster, name="my-rag")["name"] == "my-rag"


def test_two_live_deployments_never_share_an_address(templates, member_client, project, cluster):
    ids = [create(member_client, project, cluster)["id"] for _ in range(3)]  # generated names, same second
    for deployment_id in ids:
        reconciler.deployment_reconcile(deployment_id=deployment_id)
    urls = [
        c["outputs"]["url"]
        for deployment_id in ids
        for c in member_client.get(f"/api/v1/deployments/{deployment_id}").json()["components"]
    ]
    assert len(urls) == len(set(urls)) == 12


@pytest.mark.parametrize("name", ["Bad Name!!", "bad_name", "-bad", "UPPER", "x" * 41])
def test_a_name_that_is_not_an_address_is_refused_not_changed(templates, member_client, project, cluster, name):
    response = member_client.post("/api/v1/deployments", body(project, cluster, name=name), format="json")
    assert response.status_code == 400
    assert "lower-case letters, digits and dashes" in response.json()["errors"]["name"][0]
    assert not UseCaseDeployment.objects.exists()


def test_idempotency_key_with_another_body_is_422(templates, member_client, project, cluster):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-1"}
    first = member_client.post("/api/v1/deployments", body(project, cluster, name="one"), format="json", **headers)
    assert first.status_code == 201
    replay = member_client.post("/api/v1/deployments", body(project, cluster, name="one"), format="json", **headers)
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    other = member_client.post("/api/v1/deployments", body(project, cluster, name="two"), format="json", **headers)
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    assert UseCaseDeployment.objects.count() == 1


def test_idempotency_key_of_another_user_is_422(templates, member_client, admin_client, project, cluster):
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared"}
    assert (
        member_client.post("/api/v1/deployments", body(project, cluster), format="json", **headers).status_code == 201
    )
    assert admin_client.post("/api/v1/deployments", body(project, cluster), format="json", **headers).status_code == 422


def test_rollback_errors_use_the_name_the_client_sent(templates, member_client, project, cluster):
    data = create(member_client, project, cluster)
    reconciler.deployment_reconcile(deployment_id=data["id"])  # RUNNING: a change may be asked for
    response = member_client.post(f"/api/v1/deployments/{data['id']}/rollback", {"revision": 99}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["revision"]


MONEY = r"^-?\d+\.\d{4}$"


def test_money_has_four_places_everywhere_and_the_deployment_agrees_with_its_jobs(
    templates, member_client, project, cluster
):
    data = create(member_client, project, cluster)
    assert re.match(MONEY, data["cost_so_far"]) and data["cost_so_far"] == "0.0000"
    assert re.match(MONEY, data["estimated_hourly_cost"])
    preview = member_client.post("/api/v1/deployments/preview", body(project, cluster), format="json").json()
    assert re.match(MONEY, preview["estimated_hourly_cost"])
    assert all(re.match(MONEY, value) for value in preview["hourly_cost_by_component"].values())
    reconciler.deployment_reconcile(deployment_id=data["id"])
    with time_machine.travel(timezone.now() + timedelta(minutes=7), tick=False):
        detail = member_client.get(f"/api/v1/deployments/{data['id']}").json()
        listed = member_client.get("/api/v1/deployments").json()["results"][0]
        jobs = [
            member_client.get(f"/api/v1/clusters/{cluster.pk}/jobs/{c['job_id']}").json() for c in detail["components"]
        ]
    assert all(re.match(MONEY, job["actual_cost"]) and re.match(MONEY, job["hourly_rate"]) for job in jobs)
    total = sum(Decimal(job["actual_cost"]) for job in jobs)
    assert total > 0
    assert detail["cost_so_far"] == listed["cost_so_far"] == str(total)
    plan = member_client.post(
        f"/api/v1/deployments/{data['id']}/plan", {"scale": {"llm": {"replicas": 2}}}, format="json"
    ).json()
    assert all(re.match(MONEY, value) for value in plan["hourly_cost"].values())
