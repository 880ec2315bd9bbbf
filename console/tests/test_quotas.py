"""The quotas pages: bars of used / nominal / borrowed per GPU type, a queue's waiting line, tenant scoping."""

import pytest

from console.tests.conftest import web_client
from jobs import services
from jobs.tests.factories import ClusterFactory, submit_job

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
