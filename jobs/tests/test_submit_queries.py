"""The shape of one submit without a pass: on PostgreSQL one statement takes the job's number from the job sequence and
inserts the job (no BEGIN/COMMIT of its own, no lock on the cluster's row), so submissions one by one stay fast and
concurrent submitters do not queue behind each other's commit (issue 21)."""

import uuid

import pytest
from django.conf import settings
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from jobs import services
from jobs.models import Cluster, Job
from jobs.services.submission import _insert_one, job_fields
from jobs.tests.factories import SPEC, ClusterFactory, resources
from tenancy.tests.factories import ProjectFactory, TenantFactory

postgres_only = pytest.mark.skipif(not settings.IS_POSTGRES, reason="the one-statement submit is PostgreSQL's")


def request(project, name="j", **extra):
    return {
        "name": name,
        "job_type": "BATCH",
        "tenant": project.tenant,
        "project": project,
        "resources": resources(gpus=1),
        "spec": SPEC,
        "duration_seconds": 60,
        **extra,
    }


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_submit_outside_a_transaction_is_one_statement():
    project = ProjectFactory(tenant=TenantFactory())
    cluster = ClusterFactory(tenant=project.tenant)
    with CaptureQueriesContext(connection) as ctx:
        jobs = [services.job_submit(cluster=cluster, schedule=False, **request(project, f"j{n}")) for n in range(3)]
    assert [query["sql"].split()[0] for query in ctx.captured_queries] == ["INSERT"] * 3
    assert "nextval('jobs_job_sequence')" in ctx.captured_queries[0]["sql"]
    numbers = [job.sequence for job in jobs]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    # The cluster's row is not written (no lock another submitter would wait for).
    assert Cluster.objects.get(pk=cluster.pk).sequence_counter == 0
    stored = Job.objects.get(pk=jobs[1].pk)
    assert (stored.name, stored.sequence, stored.spec, stored.status) == ("j1", numbers[1], SPEC, Job.Status.PENDING)
    assert stored.demand_gpus == 1 and stored.hourly_rate == jobs[1].hourly_rate


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_attempt_does_not_take_a_number():
    project = ProjectFactory(tenant=TenantFactory())
    cluster = ClusterFactory(tenant=project.tenant)
    component = uuid.uuid4()
    first = services.job_submit(cluster=cluster, schedule=False, **request(project, component_deployment_id=component))
    # The statement of a second caller that lost the race fails as a whole: only the first job is recorded.
    fields = job_fields(cluster=cluster, **request(project, component_deployment_id=component))
    with pytest.raises(IntegrityError, match="one_job_per_attempt"):
        _insert_one(cluster, fields)
    assert list(Job.objects.values_list("pk", flat=True)) == [first.pk]
    again = services.job_submit(cluster=cluster, schedule=False, **request(project, component_deployment_id=component))
    assert again.pk == first.pk


@pytest.mark.django_db
def test_a_submit_inside_a_transaction_is_a_savepoint_around_it(cluster, project):
    with CaptureQueriesContext(connection) as ctx:
        job = services.job_submit(cluster=cluster, schedule=False, **request(project))
    sqls = [query["sql"] for query in ctx.captured_queries]
    if settings.IS_POSTGRES:
        assert len(sqls) == 3 and sqls[0].startswith("SAVEPOINT") and sqls[2].startswith("RELEASE SAVEPOINT")
        assert sqls[1].startswith("INSERT")
        assert job.sequence > 0
    else:  # the job's local queue, the counter update, its read back and the insert, inside the savepoint
        assert [sql.split()[0] for sql in sqls] == ["SAVEPOINT", "SELECT", "UPDATE", "SELECT", "INSERT", "RELEASE"]
        assert "jobs_localqueue" in sqls[1]
        assert job.sequence == 1
    assert Job.objects.get(pk=job.pk).sequence == job.sequence


@pytest.mark.django_db
def test_a_submit_with_a_pass_reads_back_what_the_pass_did(cluster, project, clock):
    job = services.job_submit(cluster=cluster, **request(project))
    assert job.admitted_at is not None  # 1 GPU of 8: admitted by its own pass
