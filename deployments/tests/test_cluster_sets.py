"""A whole deployment sent to a cluster set: previewed and created on the member where the stack starts first (or
costs least), with the choice and the runner-up shown and recorded."""

from decimal import Decimal

import pytest

from deployments import reconciler, services
from deployments.models import DeploymentEvent, UseCaseDeployment
from deployments.tests.factories import PRICES, SIMPLE_RAG_PARAMS, make_cluster
from jobs import services as job_services
from jobs.models import Cluster, ClusterSet, Job

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


@pytest.fixture
def three(tenant):
    """cheap (chosen first), dear, dearest: under lowest_cost, dear is the next best and dearest the runner-up."""
    clusters = []
    for name, factor in (("cheap", 0.5), ("dear", 1), ("dearest", 2)):
        member = make_cluster(tenant=tenant, name=name)
        member.prices = {**PRICES, "gpu_hour": {k: float(v) * factor for k, v in PRICES["gpu_hour"].items()}}
        member.save()
        clusters.append(member)
    cluster_set = ClusterSet.objects.create(tenant=tenant, name="three", strategy="lowest_cost")
    cluster_set.clusters.set(clusters)
    return cluster_set, clusters


def test_a_waiting_deployment_moves_whole_to_the_next_best_member_when_its_cluster_goes_away(
    templates, member_client, project, three
):
    cluster_set, (cheap, dear, _dearest) = three
    # Every CPU core of cheap is taken for an hour: the deployment's first wave waits there.
    busy = job_services.job_submit(
        cluster=cheap,
        name="busy",
        job_type="BATCH",
        tenant=cheap.tenant,
        project=project,
        resources={"gpu_type": None, "gpu_count": 0, "cpu": 512, "memory_gib": 1, "replicas": 1},
        spec={"kind": "docker", "image": "busybox"},
        duration_seconds=3600,
    )
    assert busy.status == Job.Status.RUNNING
    response = member_client.post("/api/v1/deployments", body(project, cluster_set), format="json")
    assert response.status_code == 201, response.json()
    deployment = UseCaseDeployment.objects.get(pk=response.json()["id"])
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    waiting_jobs = list(Job.objects.filter(usecase_deployment_id=deployment.pk))
    assert deployment.cluster_id == cheap.pk and waiting_jobs
    assert {job.status for job in waiting_jobs} == {Job.Status.QUEUED}

    job_services.cluster_update(cluster=cheap, status=Cluster.Status.OFFLINE)

    deployment.refresh_from_db()
    assert deployment.cluster_id == dear.pk
    placement = deployment.plan["placement"]
    assert (placement["chosen"]["name"], placement["runner_up"]["name"]) == ("dear", "dearest")
    assert placement["replaced_from"] == {"cluster_id": str(cheap.pk), "name": "cheap", "status": "OFFLINE"}
    moved = DeploymentEvent.objects.get(deployment=deployment, kind=DeploymentEvent.Kind.MOVED)
    assert moved.data["placement"]["chosen"]["name"] == "dear"
    assert moved.message.startswith("Moved from cheap (OFFLINE) by the cluster set: dear costs least")
    for job in waiting_jobs:
        job.refresh_from_db()
        assert job.status == Job.Status.CANCELLED, job.status_message
        assert "moved with its deployment from cheap (OFFLINE) to dear" in job.status_message
    # The API shows the move on the deployment's timeline, and the stack comes up on dear.
    events = member_client.get(f"/api/v1/deployments/{deployment.pk}/events").json()["results"]
    assert any(event["kind"] == "moved" for event in events)
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING", deployment.status_message
    live = deployment.components.filter(retired_at__isnull=True)
    assert {row.job.cluster_id for row in live} == {dear.pk}
    assert {row.attempt for row in live} == {2}
    assert deployment.components.filter(retired_at__isnull=False, status="STOPPED").count() == live.count()


def test_a_deployment_that_started_on_a_cluster_that_goes_away_stays_there(templates, member_client, project, three):
    cluster_set, (cheap, _dear, _dearest) = three
    response = member_client.post("/api/v1/deployments", body(project, cluster_set), format="json")
    deployment = UseCaseDeployment.objects.get(pk=response.json()["id"])
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING"
    direct, _ = services.deployment_create(
        user=None,
        template=deployment.template,
        project=project,
        cluster=cheap,
        parameters=dict(SIMPLE_RAG_PARAMS),
        name="direct",
    )

    job_services.cluster_update(cluster=cheap, status=Cluster.Status.DRAINING)

    deployment.refresh_from_db()
    assert deployment.cluster_id == cheap.pk and deployment.status == "RUNNING"
    assert set(deployment.components.values_list("status", flat=True)) == {"RUNNING"}
    stays = DeploymentEvent.objects.get(deployment=deployment, kind=DeploymentEvent.Kind.STAYS)
    assert "started there, so the deployment stays" in stays.message
    # A deployment asked for on that cluster itself is not the set's to move.
    direct.refresh_from_db()
    assert direct.cluster_id == cheap.pk
    assert not DeploymentEvent.objects.filter(deployment=direct, kind__in=["moved", "stays"]).exists()
