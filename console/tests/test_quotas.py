"""The quotas pages: bars of used / nominal / borrowed per GPU type, a queue's waiting line, tenant scoping."""

import pytest
from django.contrib.auth import get_user_model

from console.tests.conftest import web_client
from jobs import services
from jobs.models import ClusterQueue
from jobs.tests.factories import ClusterFactory, submit_job
from tenancy.models import Membership

pytestmark = pytest.mark.django_db

H100 = "H100-80GB"


def test_quotas_page_draws_bars_and_the_waiting_line(member_user, project, tenant, other_member_user):
    cluster = ClusterFactory(
        tenant=tenant,
        inventory={"gpus": {H100: 16}, "cpu_cores": 64, "memory_gib": 512},
        simulation={"startup_seconds": {"default": 0}},
    )
    services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "lender", "cohort": "c", "nominal_quota": {"gpus": {H100: 4}}}
    )
    queue = services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "team-a", "cohort": "c", "nominal_quota": {"gpus": {H100: 4}}}
    )
    services.local_queue_create(user=None, cluster_queue=queue, name="everyone", project=project)
    submit_job(cluster, project, "big", gpus=6)  # 4 of its own, 2 borrowed
    waiting = submit_job(cluster, project, "next", gpus=4)
    client = web_client(member_user)
    page = client.get("/quotas/").content.decode()
    assert "team-a" in page and "<svg" in page
    assert "6 used / 4 nominal, 2 borrowed" in page
    detail = client.get(f"/quotas/{queue.pk}/").content.decode()
    assert "Waiting line (1)" in detail and waiting.name in detail
    assert "Waiting for quota in queue team-a" in detail
    other = web_client(other_member_user)
    assert "team-a" not in other.get("/quotas/").content.decode()
    assert other.get(f"/quotas/{queue.pk}/").status_code == 404


def queue_post(cluster, **fields):
    return {
        "cluster": str(cluster.pk),
        "name": "team-b",
        "cohort": "lab",
        "weight": "2",
        "reclaim_within_cohort": "Any",
        "within_cluster_queue": "Never",
        "fair_sharing_preemption": "Never",
        f"nominal__gpu__{H100}": "4",
        f"borrowing__gpu__{H100}": "2",
        f"lending__gpu__{H100}": "",
        "nominal__cpu_cores": "",
        **fields,
    }


@pytest.fixture
def gpu_cluster(tenant):
    return ClusterFactory(tenant=tenant, name="gpu", inventory={"gpus": {H100: 16}, "cpu_cores": 64, "memory_gib": 512})


def test_an_admin_adds_edits_and_deletes_a_queue_in_the_console(admin_user, gpu_cluster, project):
    client = web_client(admin_user)
    page = client.get("/quotas/").content.decode()
    assert 'data-testid="queue-form"' in page and f'name="nominal__gpu__{H100}"' in page
    response = client.post("/quotas/", queue_post(gpu_cluster, nominal__cpu_cores="8.5"))
    queue = ClusterQueue.objects.get(name="team-b")
    assert response.status_code == 302 and response.url == f"/quotas/{queue.pk}"
    assert queue.nominal_quota == {"gpus": {H100: 4}, "cpu_cores": 8.5}
    assert queue.borrowing_limit == {"gpus": {H100: 2}} and queue.lending_limit == {"gpus": {}}
    assert (queue.cohort, str(queue.weight)) == ("lab", "2.000")
    assert queue.fair_sharing_preemption == ClusterQueue.FairSharingPreemption.NEVER

    edit = client.get(f"/quotas/{queue.pk}/edit").content.decode()
    assert f'name="nominal__gpu__{H100}"' in edit and 'value="4"' in edit and 'name="cluster"' not in edit
    response = client.post(
        f"/quotas/{queue.pk}/edit",
        queue_post(
            gpu_cluster,
            **{f"nominal__gpu__{H100}": "6", "weight": "0.5", "fair_sharing_preemption": "LessThanOrEqualToFinalShare"},
        ),
    )
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.nominal_quota["gpus"] == {H100: 6} and str(queue.weight) == "0.500"
    assert queue.fair_sharing_preemption == ClusterQueue.FairSharingPreemption.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE
    edit = client.get(f"/quotas/{queue.pk}/edit").content.decode()
    assert '<option value="LessThanOrEqualToFinalShare" selected>' in edit

    # A local queue sends the project's jobs to it; the page lists it, and it can go again.
    response = client.post(f"/quotas/{queue.pk}/", {"local-name": "team-b-jobs", "local-project": str(project.pk)})
    assert response.status_code == 302
    local = queue.local_queues.get()
    assert local.project_id == project.pk
    assert "team-b-jobs (project" in client.get(f"/quotas/{queue.pk}/").content.decode()
    assert client.post(f"/quotas/{queue.pk}/local/{local.pk}/delete").status_code == 302
    assert not queue.local_queues.exists()

    assert client.post(f"/quotas/{queue.pk}/delete").status_code == 302
    assert not ClusterQueue.objects.filter(pk=queue.pk).exists()


def test_the_queue_form_shows_the_services_errors_beside_the_fields(admin_user, gpu_cluster):
    client = web_client(admin_user)
    response = client.post(
        "/quotas/",
        queue_post(gpu_cluster, name="Bad Name", **{f"lending__gpu__{H100}": "9", f"nominal__gpu__{H100}": "4"}),
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["name"][0].startswith("1 to 63 lower-case letters")
    assert form.errors[f"lending__gpu__{H100}"] == ["Cannot lend more than the nominal quota."]
    assert not ClusterQueue.objects.exists()
    page = response.content.decode()
    assert f'id="id_lending__gpu__{H100}_error"' in page
    # A negative number is the form's own error; a weight of 0 too.
    response = client.post("/quotas/", queue_post(gpu_cluster, weight="0", **{f"nominal__gpu__{H100}": "-1"}))
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"weight", f"nominal__gpu__{H100}"}
    # A duplicate name is the service's 409, shown on the name.
    services.cluster_queue_create(user=None, cluster=gpu_cluster, data={"name": "team-b", "nominal_quota": {}})
    response = client.post("/quotas/", queue_post(gpu_cluster))
    assert response.status_code == 400 and response.context["form"].errors["name"] == ["Already taken."]


def test_queues_are_written_by_the_tenants_admins_only_and_scoped_to_the_tenant(
    admin_user, member_user, other_member_user, gpu_cluster, other_tenant, project
):
    queue = services.cluster_queue_create(
        user=None, cluster=gpu_cluster, data={"name": "team-a", "nominal_quota": {"gpus": {H100: 4}}}
    )
    member = web_client(member_user)
    assert 'data-testid="queue-form"' not in member.get("/quotas/").content.decode()
    assert member.post("/quotas/", queue_post(gpu_cluster)).status_code == 403
    assert member.post(f"/quotas/{queue.pk}/edit", queue_post(gpu_cluster)).status_code == 403
    assert member.post(f"/quotas/{queue.pk}/delete").status_code == 403
    assert member.post(f"/quotas/{queue.pk}/", {"local-name": "x"}).status_code == 403
    other = web_client(other_member_user)
    for path in (f"/quotas/{queue.pk}/edit", f"/quotas/{queue.pk}/delete"):
        assert other.post(path, queue_post(gpu_cluster)).status_code == 404
    # An admin of another tenant cannot put a queue on this tenant's cluster (not among the form's choices; the
    # serializer's tenant-scoped field would refuse it too).
    other_admin = get_user_model().objects.create_user(username="olga-admin", password="x")
    Membership.objects.create(user=other_admin, tenant=other_tenant, role=Membership.Role.ADMIN)
    theirs = ClusterFactory(tenant=other_tenant, name="theirs", inventory={"gpus": {H100: 8}})
    assert theirs.tenant_id == other_tenant.pk
    response = web_client(other_admin).post("/quotas/", queue_post(gpu_cluster))
    assert response.status_code == 400 and "cluster" in response.context["form"].errors
    assert ClusterQueue.objects.count() == 1
    # A queue in use cannot go: the reason is shown, the queue stays.
    services.local_queue_create(user=None, cluster_queue=queue, name="everyone")
    assert submit_job(gpu_cluster, project, "uses-it", gpus=2).cluster_queue_id == queue.pk
    admin = web_client(admin_user)
    response = admin.post(f"/quotas/{queue.pk}/delete", follow=True)
    assert "Unfinished jobs count against this queue" in response.content.decode()
    assert ClusterQueue.objects.filter(pk=queue.pk).exists()
