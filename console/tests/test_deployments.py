from decimal import Decimal

import pytest

from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.tests.factories import deploy
from jobs.models import Job
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_list_shows_status_template_cluster_age_and_cost(member_web, member_user, templates, project, cluster):
    running = deploy(user=member_user, project=project, cluster=cluster, name="rag-one", run=True)
    response = member_web.get("/deployments")
    assert response.status_code == 200
    page = response.content.decode()
    assert [d.pk for d in response.context["page"].object_list] == [running.pk]
    assert f'href="/deployments/{running.pk}"' in page
    assert '<span class="badge ok">RUNNING</span>' in page
    assert "Simple RAG" in page and "sim-a" in page
    # Cost so far: the sum of what every job of the deployment has cost (here ended ones), to four places.
    jobs = list(Job.objects.filter(usecase_deployment_id=running.pk).order_by("created_at"))
    assert len(jobs) == 4
    for job, cost in zip(jobs, ("1.2500", "0.0625", "2.0000", "0.1234"), strict=True):
        Job.objects.filter(pk=job.pk).update(actual_cost=Decimal(cost), status="CANCELLED", completed_at=job.started_at)
    response = member_web.get("/deployments")
    assert response.context["page"].object_list[0].cost_so_far == Decimal("3.4359")
    assert '<td class="num">$3.4359</td>' in response.content.decode()


def test_list_is_scoped_to_the_users_tenants(member_web, other_member_user, templates, other_project, other_cluster):
    deploy(user=other_member_user, project=other_project, cluster=other_cluster)
    assert list(member_web.get("/deployments").context["page"].object_list) == []


def test_list_filters_by_status_template_cluster_and_text(member_web, member_user, templates, project, cluster):
    first = deploy(user=member_user, project=project, cluster=cluster, name="alpha", run=True)
    second = deploy(user=member_user, project=project, cluster=cluster, name="beta")

    def names(**params):
        return [d.name for d in member_web.get("/deployments", params).context["page"].object_list]

    assert names(status="RUNNING") == ["alpha"]
    assert names(status="PENDING") == ["beta"]
    assert names(q="alp") == ["alpha"]
    assert sorted(names(template="simple-rag-v1")) == ["alpha", "beta"]
    assert sorted(names(cluster_id=str(cluster.pk))) == ["alpha", "beta"]
    assert names(template="chatbot-memory-v1") == []
    assert {first.pk, second.pk} == set(UseCaseDeployment.objects.values_list("pk", flat=True))


def test_list_reports_an_invalid_filter(member_web, templates):
    response = member_web.get("/deployments", {"cluster_id": "not-a-uuid"})
    assert response.status_code == 200
    assert "cluster_id" in response.context["errors"]


def test_list_query_count_does_not_grow_with_rows(
    member_web, member_user, templates, project, cluster, django_assert_max_num_queries
):
    for i in range(3):
        deploy(user=member_user, project=project, cluster=cluster, name=f"d{i}", run=True)
    with django_assert_max_num_queries(12) as few:
        member_web.get("/deployments")
    baseline = len(few.captured_queries)
    assert baseline > 0
    for i in range(3, 12):
        deploy(user=member_user, project=ProjectFactory(tenant=project.tenant), cluster=cluster, name=f"d{i}")
    with django_assert_max_num_queries(baseline):
        response = member_web.get("/deployments")
    assert len(response.context["page"].object_list) == 12


def test_list_paginates(member_web, member_user, templates, project, cluster, monkeypatch):
    from console.views import deployments as views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(3):
        deploy(user=member_user, project=project, cluster=cluster, name=f"d{i}")
    first = member_web.get("/deployments", {"status": "PENDING"})
    assert len(first.context["page"].object_list) == 2
    assert 'href="?status=PENDING&amp;page=2"' in first.content.decode()
    assert len(member_web.get("/deployments", {"status": "PENDING", "page": 2}).context["page"].object_list) == 1


def test_detail_shows_components_jobs_outputs_and_events(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    response = member_web.get(f"/deployments/{deployment.pk}")
    assert response.status_code == 200
    page = response.content.decode()
    assert [c.key for c in response.context["components"]] == ["vector-db", "embedding", "llm", "orchestrator"]
    for row in response.context["components"]:
        assert row.job is not None
        assert f'<code data-output="url">{row.outputs["url"]}</code>' in page
    assert 'data-testid="deployment-status">RUNNING<' in page
    events = DeploymentEvent.objects.filter(deployment=deployment)
    assert all(f'id="event-{e.id}"' in page for e in events)
    assert "LIFECYCLE ACTIONS (issue 8)" not in page  # a template comment, not output
    assert f'href="/deployments/{deployment.pk}/delete"' in page


def test_detail_polls_fast_while_the_deployment_is_not_settled(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster)
    page = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    last = DeploymentEvent.objects.filter(deployment=deployment).latest("id").id
    assert f'hx-get="/deployments/{deployment.pk}/live?after={last}"' in page
    assert 'hx-trigger="every 1s"' in page


def test_detail_stops_polling_once_deleted(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(status="DELETED")
    page = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    assert "hx-trigger" not in page
    assert "Delete…" not in page


def test_live_fragment_sends_only_new_events_out_of_band(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster)
    seen = DeploymentEvent.objects.filter(deployment=deployment).latest("id").id
    nothing_new = member_web.get(f"/deployments/{deployment.pk}/live", {"after": seen}).content.decode()
    assert "hx-swap-oob" not in nothing_new
    assert 'id="live"' in nothing_new
    from deployments import reconciler

    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    fresh = member_web.get(f"/deployments/{deployment.pk}/live", {"after": seen}).content.decode()
    new_events = DeploymentEvent.objects.filter(deployment=deployment, id__gt=seen)
    assert new_events.exists()
    assert 'hx-swap-oob="afterbegin:#timeline"' in fresh
    assert all(f'id="event-{e.id}"' in fresh for e in new_events)
    assert f'id="event-{seen}"' not in fresh
    assert 'data-status="RUNNING"' in fresh


def test_another_tenants_deployment_is_404_on_every_page(other_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster)
    for suffix in ("", "/live", "/delete"):
        assert other_web.get(f"/deployments/{deployment.pk}{suffix}").status_code == 404
    assert other_web.post(f"/deployments/{deployment.pk}/delete").status_code == 404
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "PENDING"


def test_delete_confirmation_shows_the_stop_order_and_freed_gpus(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    response = member_web.get(f"/deployments/{deployment.pk}/delete")
    assert response.status_code == 200
    waves = [[item["row"].key for item in wave] for wave in response.context["waves"]]
    assert waves[0] == ["orchestrator"]
    assert sorted(waves[1]) == ["embedding", "llm", "vector-db"]
    page = response.content.decode()
    assert "Step 1: <code>orchestrator</code>" in page
    # the embedding model on an L4 and the LLM on an A100, one replica each
    assert response.context["gpus"] == [("A100-80GB", 1), ("L4", 1)]
    assert "<dd>1 \u00d7 A100-80GB, 1 \u00d7 L4</dd>" in page
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "RUNNING"


def test_confirmed_delete_starts_deleting(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    response = member_web.post(f"/deployments/{deployment.pk}/delete", follow=True)
    assert response.redirect_chain[-1][0] == f"/deployments/{deployment.pk}"
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "DELETING"
    page = response.content.decode()
    assert "Deletion started" in page
    assert 'hx-trigger="every 1s"' in page


def test_deleting_twice_shows_the_conflict(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    member_web.post(f"/deployments/{deployment.pk}/delete")
    response = member_web.post(f"/deployments/{deployment.pk}/delete", follow=True)
    assert "already deleting" in response.content.decode()


def test_viewer_cannot_delete(viewer_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, run=True)
    page = viewer_web.get(f"/deployments/{deployment.pk}").content.decode()
    assert "Delete…" not in page
    response = viewer_web.post(f"/deployments/{deployment.pk}/delete", follow=True)
    assert "read-only" in response.content.decode()
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "RUNNING"


def test_home_shows_recent_deployments(member_web, member_user, templates, project, cluster):
    deployment = deploy(user=member_user, project=project, cluster=cluster, name="recent-one")
    page = member_web.get("/").content.decode()
    assert f'href="/deployments/{deployment.pk}">recent-one</a>' in page


def test_gpus_freed_add_up_count_times_replicas_per_gpu_type():
    from console.selectors import deployment_gpus_freed

    rows = [
        ComponentDeployment(key="llm", resources={"gpu_type": "L4", "gpu_count": 1, "replicas": 2}),
        ComponentDeployment(key="rerank", resources={"gpu_type": "L4", "gpu_count": 1}),
        ComponentDeployment(key="big", resources={"gpu_type": "A100-80GB", "gpu_count": 4}),
        ComponentDeployment(key="db", resources={"cpu": "2", "gpu_count": 0}),
        ComponentDeployment(key="ui", resources=None),
    ]
    assert deployment_gpus_freed(components=rows) == [("A100-80GB", 4), ("L4", 3)]
