import io

import pytest
from django.conf import settings

from core.testing import wait_for
from jobs import bootstrap, services
from jobs.models import Cluster, Job
from jobs.tasks import advance_jobs
from jobs.tests.factories import SPEC, resources
from tenancy.bootstrap import bootstrap as tenancy_bootstrap
from tenancy.models import Project


@pytest.mark.django_db
def test_advance_jobs_task_runs_a_pass_over_busy_clusters(cluster, project, clock):
    job = services.job_submit(
        cluster=cluster,
        name="b",
        job_type="BATCH",
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=1),
        spec=SPEC,
        duration_seconds=5,
    )
    clock.shift(60)
    summary = advance_jobs()
    job.refresh_from_db()
    assert summary["clusters"] == 1
    assert job.status == Job.Status.SUCCEEDED


def test_beat_schedules_the_advance_task_every_two_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["jobs-advance"]
    assert (entry["task"], entry["schedule"]) == ("jobs.advance_jobs", 2.0)


@pytest.mark.django_db
def test_bootstrap_creates_the_demo_cluster_once():
    tenancy_bootstrap(stdout=io.StringIO())
    first = bootstrap.bootstrap(stdout=io.StringIO())
    second = bootstrap.bootstrap(stdout=io.StringIO())
    assert first == second
    cluster = Cluster.objects.get(pk=first["cluster_id"])
    assert (cluster.name, cluster.tenant.name) == ("sim-local", "Demo")
    assert cluster.inventory["gpus"] == {"H100-80GB": 8, "A100-80GB": 16, "L4": 8}
    assert Cluster.objects.count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_advances_jobs(celery_worker_process):
    tenancy_bootstrap(stdout=io.StringIO())
    cluster = Cluster.objects.get(pk=bootstrap.bootstrap(stdout=io.StringIO())["cluster_id"])
    project = Project.objects.get(tenant=cluster.tenant, name="default")
    job = services.job_submit(
        cluster=cluster,
        name="svc",
        job_type="SERVICE",
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=1),
        spec=SPEC,
    )
    assert job.status == Job.Status.PENDING  # starting up (2 s)

    def running():
        advance_jobs.delay()
        job.refresh_from_db()
        return job.status == Job.Status.RUNNING

    wait_for(running, timeout=30, interval=0.5, message="the worker to start the job")
    assert job.outputs["url"] == "http://svc.default.svc.cluster.local:8080"
