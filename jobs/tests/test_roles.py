"""Every write service of the job layer checks the acting user's role itself, so the API, the admin and any
command or script are held to the same rule; `user=None` is the system (the reconciler, the beat)."""

import pytest
from django.contrib.auth.models import Permission

from core.exceptions import PermissionDenied
from jobs import services
from jobs.models import Job
from jobs.tests.factories import SPEC, resources, submit_job
from tenancy.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_viewer_cannot_submit_a_job_through_the_service(viewer_user, cluster, project):
    with pytest.raises(PermissionDenied):
        services.job_submit(
            user=viewer_user,
            cluster=cluster,
            tenant=cluster.tenant,
            project=project,
            name="nope",
            job_type="SERVICE",
            resources=resources(),
            spec=SPEC,
        )
    assert not Job.objects.exists()


def test_a_viewer_cannot_change_resize_or_cancel_a_job(viewer_user, cluster, project):
    job = submit_job(cluster, project, "running")
    before = (job.priority, job.status)
    for call in (
        lambda: services.job_update(job=job, user=viewer_user, priority=10),
        lambda: services.job_cancel(job=job, user=viewer_user),
        lambda: services.job_resize(job=job, user=viewer_user, replicas=1),
    ):
        with pytest.raises(PermissionDenied):
            call()
    job.refresh_from_db()
    assert (job.priority, job.status) == before


def test_a_member_of_another_tenant_cannot_cancel(other_member_user, cluster, project):
    job = submit_job(cluster, project, "running")
    with pytest.raises(PermissionDenied):
        services.job_cancel(job=job, user=other_member_user)


def test_a_member_writes_and_the_system_needs_no_user(member_user, cluster, project):
    job = submit_job(cluster, project, "running")
    services.job_update(job=job, user=member_user, priority=70)
    services.job_cancel(job=job, user=None, reason="by the system")
    job.refresh_from_db()
    assert (job.priority, job.status) == (70, "CANCELLED")


def test_staff_without_a_role_in_the_tenant_cannot_change_a_job_in_the_admin(client, cluster, project):
    staff = UserFactory(username="staff-only", is_staff=True)
    staff.user_permissions.add(*_permissions("view_job", "change_job"))
    job = submit_job(cluster, project, "running")
    client.force_login(staff)
    response = client.post(f"/admin/jobs/job/{job.pk}/change/", {"priority": 90, "labels": "{}"})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.priority == 50


def _permissions(*codenames):
    return Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames)
