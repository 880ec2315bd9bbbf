"""A job's spec kind is a plain column (issue 21): passes and forecasts read it for start-up times without decrypting
every holding or waiting job's spec; only the jobs that start in a pass have their spec read (for their outputs)."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from core import crypto
from jobs import selectors, services
from jobs.models import Job
from jobs.tests.factories import SPEC, ClusterFactory, resources
from tenancy.tests.factories import ProjectFactory, TenantFactory


def _submit(cluster, project, name, spec=SPEC, now=None):
    return services.job_submit(
        cluster=cluster,
        name=name,
        job_type="BATCH",
        tenant=project.tenant,
        project=project,
        resources=resources(gpus=1),
        spec=spec,
        duration_seconds=600,
        now=now,
        schedule=False,
    )


@pytest.fixture
def decryptions(monkeypatch):
    calls = []
    real = crypto.decrypt

    def counting(token):
        calls.append(token)
        return real(token)

    monkeypatch.setattr(crypto, "decrypt", counting)
    return calls


@pytest.mark.django_db
def test_submit_records_the_kind_of_its_spec():
    project = ProjectFactory(tenant=TenantFactory())
    cluster = ClusterFactory(tenant=project.tenant)
    job = _submit(cluster, project, "a")
    assert Job.objects.values_list("kind", flat=True).get(pk=job.pk) == "docker"
    many = services.jobs_submit_many(
        cluster=cluster,
        schedule=False,
        jobs=[
            {
                "name": f"m{n}",
                "job_type": "BATCH",
                "tenant": project.tenant,
                "project": project,
                "resources": resources(gpus=1),
                "spec": {"kind": "model", "model_id": "m"},
                "duration_seconds": 60,
            }
            for n in range(2)
        ],
    )
    assert set(Job.objects.filter(pk__in=[j.pk for j in many]).values_list("kind", flat=True)) == {"model"}


@pytest.mark.django_db
def test_a_pass_decrypts_no_running_jobs_spec(decryptions):
    project = ProjectFactory(tenant=TenantFactory())
    cluster = ClusterFactory(
        tenant=project.tenant, simulation={"startup_seconds": {"default": 10, "docker": 30}, "seed": 0}
    )
    now = timezone.now()
    jobs = [_submit(cluster, project, f"j{n}", now=now) for n in range(12)]  # 8 H100s: 8 admitted, 4 wait
    services.cluster_schedule_pass(cluster=cluster, now=now)
    assert Job.objects.filter(admitted_at__isnull=False).count() == 8
    services.cluster_schedule_pass(cluster=cluster, now=now + timedelta(seconds=20))
    assert Job.objects.filter(status=Job.Status.RUNNING).count() == 0  # docker start-up (30 s), from the column
    services.cluster_schedule_pass(cluster=cluster, now=now + timedelta(seconds=31))
    started = Job.objects.get(pk=jobs[0].pk)
    assert started.status == Job.Status.RUNNING and started.outputs["port"] == 8080  # from the spec
    decryptions.clear()
    services.cluster_schedule_pass(cluster=cluster, now=now + timedelta(seconds=40))
    assert len(decryptions) <= 4  # the waiting heads the pass read; none of the 8 running jobs
    decryptions.clear()
    selectors.cluster_forecast(cluster=cluster, now=now + timedelta(seconds=41))
    assert decryptions == []  # 8 running, 4 waiting: no spec read


@pytest.mark.django_db
def test_the_migration_fills_the_kind_of_existing_jobs():
    project = ProjectFactory(tenant=TenantFactory())
    cluster = ClusterFactory(tenant=project.tenant)
    job = _submit(cluster, project, "old")
    Job.objects.filter(pk=job.pk).update(kind="")
    migration = importlib.import_module("jobs.migrations.0011_job_kind")
    migration.fill_kind(django_apps, None)
    assert Job.objects.values_list("kind", flat=True).get(pk=job.pk) == "docker"
