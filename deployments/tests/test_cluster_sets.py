"""A whole deployment sent to a cluster set: previewed and created on the member where the stack starts first (or
costs least), with the choice and the runner-up shown and recorded."""

from decimal import Decimal

import pytest

from deployments.models import DeploymentEvent, UseCaseDeployment
from deployments.tests.factories import PRICES, SIMPLE_RAG_PARAMS, make_cluster
from jobs.models import ClusterSet

pytestmark = pytest.mark.django_db


def body(project, cluster_set, **extra):
    return {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_set_id": str(cluster_set.pk),
        "parameters": SIMPLE_RAG_PARAMS,
        **extra,
    }


@pytest.fixture
def members(tenant):
    dear = make_cluster(tenant=tenant, name="dear")
    cheap = make_cluster(tenant=tenant, name="cheap")
    cheap.prices = {**PRICES, "gpu_hour": {k: float(v) / 2 for k, v in PRICES["gpu_hour"].items()}}
    cheap.save()
    return dear, cheap


@pytest.fixture
def cluster_set(tenant, members):
    cluster_set = ClusterSet.objects.create(tenant=tenant, name="both", strategy="lowest_cost")
    cluster_set.clusters.set(members)
    return cluster_set


def test_preview_on_a_set_shows_the_choice_and_the_runner_up(templates, member_client, project, cluster_set):
    response = member_client.post("/api/v1/deployments/preview", body(project, cluster_set), format="json")
    assert response.status_code == 200, response.json()
    preview = response.json()
    placement = preview["placement"]
    assert (placement["chosen"]["name"], placement["runner_up"]["name"]) == ("cheap", "dear")
    assert Decimal(placement["chosen"]["hourly_cost"]) < Decimal(placement["runner_up"]["hourly_cost"])
    assert preview["cluster_id"] == placement["chosen"]["cluster_id"]
    assert not UseCaseDeployment.objects.exists()


def test_create_on_a_set_deploys_on_the_chosen_member_and_records_it(templates, member_client, project, cluster_set):
    response = member_client.post("/api/v1/deployments", body(project, cluster_set), format="json")
    assert response.status_code == 201, response.json()
    deployment = UseCaseDeployment.objects.get(pk=response.json()["id"])
    assert deployment.cluster.name == "cheap"
    assert deployment.plan["placement"]["runner_up"]["name"] == "dear"
    created = DeploymentEvent.objects.get(deployment=deployment, kind=DeploymentEvent.Kind.CREATED)
    assert created.data["placement"]["chosen"]["name"] == "cheap"
    assert "Placed by the cluster set: cheap costs least (runner-up dear)." in created.message
    # An OFFLINE member is never chosen: the other one takes the next deployment.
    cheap = cluster_set.clusters.get(name="cheap")
    cheap.status = "OFFLINE"
    cheap.save()
    again = member_client.post("/api/v1/deployments", body(project, cluster_set, name="second"), format="json")
    assert again.status_code == 201, again.json()
    assert UseCaseDeployment.objects.get(pk=again.json()["id"]).cluster.name == "dear"


def test_cluster_or_set_is_a_field_error_and_another_tenants_set_is_not_found(
    templates, member_client, project, cluster_set, cluster, other_tenant
):
    both = body(project, cluster_set, cluster_id=str(cluster.pk))
    response = member_client.post("/api/v1/deployments", both, format="json")
    assert response.status_code == 400
    assert "cluster_id" in response.json()["errors"]
    theirs = ClusterSet.objects.create(tenant=other_tenant, name="theirs")
    response = member_client.post("/api/v1/deployments/preview", body(project, theirs), format="json")
    assert response.status_code == 400
    assert "cluster_set_id" in response.json()["errors"]
    strategy_alone = {**body(project, cluster_set), "strategy": "lowest_cost"}
    strategy_alone.pop("cluster_set_id")
    strategy_alone["cluster_id"] = str(cluster.pk)
    assert "strategy" in member_client.post("/api/v1/deployments", strategy_alone, format="json").json()["errors"]
