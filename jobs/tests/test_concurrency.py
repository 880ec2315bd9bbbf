"""Concurrent submits and passes never over-commit a GPU type (row lock on the cluster; PostgreSQL)."""

import threading
import uuid

import pytest
from django.conf import settings
from django.db import connection, transaction

from jobs import selectors, services
from jobs.models import Job
from jobs.tests.factories import SPEC, ClusterFactory, resources
from tenancy.tests.factories import ProjectFactory, TenantFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.IS_POSTGRES,
        reason="SQLite serialises every writer behind one database lock, so concurrent row locking is only "
        "meaningful on PostgreSQL (set DATABASE_URL to run it)",
    ),
]


def run_concurrently(workers: int, target) -> list[BaseException]:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def held_gpus(cluster) -> int:
    holding = Job.objects.filter(cluster=cluster, admitted_at__isnull=False, status__in=["PENDING", "RUNNING"])
    return sum(job.resources["gpu_count"] * job.resources["replicas"] for job in holding)


def test_concurrent_submits_never_overcommit_a_gpu_type():
    tenant = TenantFactory()
    project = ProjectFactory(tenant=tenant)
    cluster = ClusterFactory(
        tenant=tenant,
        inventory={"gpus": {"H100-80GB": 8}, "cpu_cores": 1000, "memory_gib": 1000},
        simulation={"startup_seconds": {"default": 0}},
    )

    def submit_many(index: int) -> None:
        for n in range(6):
            services.job_submit(
                cluster=cluster,
                name=f"t{index}-{n}",
                job_type="SERVICE",
                tenant=tenant,
                project=project,
                resources=resources(gpus=1 + (n % 2)),
                spec=SPEC,
            )

    errors = run_concurrently(4, submit_many)
    assert not errors, errors
    assert Job.objects.filter(cluster=cluster).count() == 24
    assert held_gpus(cluster) <= 8
    # Capacity is used, not just respected: 1-GPU and 2-GPU jobs fill all 8 GPUs.
    assert held_gpus(cluster) == 8
    assert Job.objects.filter(cluster=cluster, status="QUEUED").exists()


def test_concurrent_submitters_without_a_pass_then_a_pass_keep_priority_capacity_and_order():
    # Four submitters at once (as four API workers), no pass each: every job recorded with its own number, then
    # one pass admits by priority only what fits, and the forecast ranks the rest by (priority, number).
    tenant = TenantFactory()
    project = ProjectFactory(tenant=tenant)
    cluster = ClusterFactory(
        tenant=tenant,
        inventory={"gpus": {"H100-80GB": 8}, "cpu_cores": 1000, "memory_gib": 1000},
        simulation={"startup_seconds": {"default": 0}},
    )

    def submit_many(index: int) -> None:
        for n in range(10):
            services.job_submit(
                cluster=cluster,
                schedule=False,
                name=f"t{index}-{n}",
                job_type="SERVICE",
                tenant=tenant,
                project=project,
                resources=resources(gpus=1),
                spec=SPEC,
                priority=100 if n % 4 == 0 else 10,  # 3 high-priority jobs per submitter, 12 in all
            )

    errors = run_concurrently(4, submit_many)
    assert not errors, errors
    jobs = list(Job.objects.filter(cluster=cluster))
    assert len(jobs) == 40 and len({job.sequence for job in jobs}) == 40
    services.cluster_schedule_pass(cluster=cluster)
    assert held_gpus(cluster) == 8
    admitted = Job.objects.filter(cluster=cluster, admitted_at__isnull=False)
    assert set(admitted.values_list("priority", flat=True)) == {100}  # 12 high-priority jobs for 8 GPUs
    forecast = selectors.cluster_forecast(cluster=cluster)
    waiting = Job.objects.filter(cluster=cluster, admitted_at__isnull=True).order_by("-priority", "sequence", "id")
    assert [forecast.jobs[job.pk].queue_position for job in waiting] == list(range(1, 33))


def test_a_submitter_does_not_wait_for_another_submitters_commit():
    # The number comes from a sequence, not a counter on the cluster's row: a submit inside a transaction that has
    # not committed yet does not hold up another submitter (with a row counter the second waited for the commit).
    tenant = TenantFactory()
    project = ProjectFactory(tenant=tenant)
    cluster = ClusterFactory(tenant=tenant)
    item = {"job_type": "BATCH", "tenant": tenant, "project": project, "resources": resources(gpus=1), "spec": SPEC}
    item["duration_seconds"] = 60
    done = threading.Event()

    def other(index: int) -> None:
        services.job_submit(cluster=cluster, schedule=False, name="other", **item)
        done.set()

    with transaction.atomic():
        first = services.job_submit(cluster=cluster, schedule=False, name="first", **item)
        thread = threading.Thread(target=run_concurrently, args=(1, other))
        thread.start()
        assert done.wait(timeout=20), "the second submit waited for the first one's transaction"
    thread.join(timeout=20)
    second = Job.objects.get(cluster=cluster, name="other")
    assert second.sequence > first.sequence


def test_a_submit_does_not_wait_for_a_pass_and_the_next_pass_admits_it_within_capacity():
    # A pass holds the cluster's row until it commits; a submit (its job's foreign key takes a KEY SHARE lock on that
    # row) goes on meanwhile. With the pass's lock FOR UPDATE the submit waited for the pass's commit.
    tenant = TenantFactory()
    project = ProjectFactory(tenant=tenant)
    cluster = ClusterFactory(
        tenant=tenant,
        inventory={"gpus": {"H100-80GB": 4}, "cpu_cores": 100, "memory_gib": 100},
        simulation={"startup_seconds": {"default": 0}},
    )
    item = {"job_type": "SERVICE", "tenant": tenant, "project": project, "resources": resources(gpus=2), "spec": SPEC}
    services.job_submit(cluster=cluster, schedule=False, name="before", priority=10, **item)
    done = threading.Event()

    def submit(index: int) -> None:
        services.job_submit(cluster=cluster, schedule=False, name="during", priority=100, **item)
        services.jobs_submit_many(cluster=cluster, jobs=[{"name": "bulk", **item}], schedule=False)
        done.set()

    with transaction.atomic():
        result = services.cluster_schedule_pass(cluster=cluster)  # its lock is held until this block commits
        assert result.admitted == 1
        thread = threading.Thread(target=run_concurrently, args=(1, submit))
        thread.start()
        assert done.wait(timeout=20), "the submit waited for the pass's commit"
    thread.join(timeout=20)
    services.cluster_schedule_pass(cluster=cluster)
    assert held_gpus(cluster) == 4  # "before" and the higher-priority "during"; "bulk" waits
    assert Job.objects.get(cluster=cluster, name="during").admitted_at is not None
    assert Job.objects.get(cluster=cluster, name="bulk").admitted_at is None


def test_concurrent_submits_of_the_same_attempt_record_one_job():
    tenant = TenantFactory()
    project = ProjectFactory(tenant=tenant)
    cluster = ClusterFactory(tenant=tenant)
    component = uuid.uuid4()
    ids: list = []

    def submit_same(index: int) -> None:
        job = services.job_submit(
            cluster=cluster,
            name="component",
            job_type="SERVICE",
            tenant=tenant,
            project=project,
            resources=resources(gpus=1),
            spec=SPEC,
            component_deployment_id=component,
        )
        ids.append(job.pk)

    errors = run_concurrently(4, submit_same)
    assert not errors, errors
    assert len(set(ids)) == 1
    assert Job.objects.filter(component_deployment_id=component).count() == 1


def test_concurrent_passes_admit_each_job_once():
    tenant = TenantFactory()
    project = ProjectFactory(tenant=tenant)
    cluster = ClusterFactory(
        tenant=tenant, status="DRAINING", inventory={"gpus": {"H100-80GB": 4}, "cpu_cores": 100, "memory_gib": 100}
    )
    Job.objects.bulk_create(
        Job(
            name=f"j{i}",
            job_type="SERVICE",
            cluster=cluster,
            tenant=tenant,
            project=project,
            resources=resources(gpus=1),
            queue_key="H100-80GB",
            spec=SPEC,
            sequence=i,
            status="QUEUED",
        )
        for i in range(10)
    )
    cluster.status = "ACTIVE"
    cluster.save()
    results = []
    errors = run_concurrently(4, lambda i: results.append(services.cluster_schedule_pass(cluster=cluster)))
    assert not errors, errors
    assert sum(r.admitted for r in results) == 4
    assert held_gpus(cluster) == 4
