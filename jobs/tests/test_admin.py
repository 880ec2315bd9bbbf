import pytest

from jobs import services
from jobs.models import Job
from jobs.tests.factories import SPEC, resources

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def submit(cluster, project, name):
    return services.job_submit(
        cluster=cluster,
        name=name,
        job_type="SERVICE",
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=1),
        spec=SPEC,
    )


def test_admin_lists_and_filters_jobs(staff_client, cluster, project):
    submit(cluster, project, "alpha")
    response = staff_client.get("/admin/jobs/job/?status__exact=PENDING&q=alp")
    assert response.status_code == 200
    assert b"alpha" in response.content
    assert staff_client.get("/admin/jobs/cluster/").status_code == 200


def test_admin_action_cancels_jobs(staff_client, cluster, project):
    job = submit(cluster, project, "alpha")
    response = staff_client.post(
        "/admin/jobs/job/", {"action": "cancel_jobs", "_selected_action": [str(job.pk)]}, follow=True
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.status_message.startswith("Cancelled: cancelled by root")
