"""Resizing a service in place and absorbing an extra part, with a controlled clock."""

from decimal import Decimal

import pytest

from core.exceptions import Conflict, ValidationError
from jobs import services
from jobs.models import Job
from jobs.tests.factories import submit_job

pytestmark = pytest.mark.django_db


def service(cluster, project, name="svc", gpus=1, replicas=1):
    return submit_job(cluster, project, name, gpus=gpus, cpu=0, memory_gib=0, replicas=replicas)


def test_shrinking_frees_capacity_at_once_and_a_waiting_job_is_admitted(cluster, project, clock):
    big = service(cluster, project, "big", gpus=2, replicas=4)  # all 8 H100s
    waiting = service(cluster, project, "waiting", gpus=2)
    assert waiting.status == "QUEUED"
    clock.shift(60)
    services.job_resize(job=big, replicas=3)
    big.refresh_from_db()
    waiting.refresh_from_db()
    assert big.resources["replicas"] == 3
    assert (big.demand_gpus, big.status) == (6, "RUNNING")
    assert waiting.status == "PENDING" and waiting.admitted_at is not None


def test_a_resize_bills_each_rate_for_the_time_it_applied(cluster, project, clock):
    job = service(cluster, project, gpus=1, replicas=4)  # 4 x 2.5/h, starts after 10 s
    clock.shift(10 + 1800)  # 30 minutes at 10/h
    services.job_resize(job=job, replicas=2)
    job.refresh_from_db()
    assert job.hourly_rate == Decimal("5.000000")
    assert job.estimated_cost == Decimal("5.0000")
    clock.shift(3600)  # then an hour at 5/h
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert job.actual_cost == Decimal("10.0000")
    services.job_cancel(job=job)
    job.refresh_from_db()
    assert job.actual_cost == Decimal("10.0000")


def test_an_admitted_job_does_not_grow_in_place(cluster, project, clock):
    job = service(cluster, project, gpus=1)
    with pytest.raises(Conflict, match="cannot grow in place"):
        services.job_resize(job=job, replicas=2)
    with pytest.raises(ValidationError):
        services.job_resize(job=job, replicas=0)


def test_an_extra_part_is_absorbed_without_releasing_capacity(cluster, project, clock):
    main = service(cluster, project, "main", gpus=2, replicas=2)
    part = service(cluster, project, "main-part", gpus=2, replicas=1)
    waiting = service(cluster, project, "waiting", gpus=4)  # 2 H100 free: waits
    clock.shift(10)
    services.cluster_schedule_pass(cluster=cluster)
    clock.shift(3600)
    services.job_absorb(job=main, part=part)
    main.refresh_from_db()
    part.refresh_from_db()
    waiting.refresh_from_db()
    assert main.resources["replicas"] == 3 and main.demand_gpus == 6 and main.status == "RUNNING"
    assert part.status == "CANCELLED" and part.status_message == f"Merged into job {main.pk} (3 replicas)."
    assert part.actual_cost == Decimal("5.0000")  # 2 x 2.5 for the hour it ran on its own
    services.cluster_schedule_pass(cluster=cluster)
    waiting.refresh_from_db()
    assert waiting.status == "QUEUED"  # 6 + 4 > 8: the part's GPUs went to main, not to the queue
    clock.shift(3600)
    services.cluster_schedule_pass(cluster=cluster)
    main.refresh_from_db()
    assert main.actual_cost == Decimal("25.0000")  # 10/h for the first hour, 15/h for the second


def test_absorb_refuses_parts_of_another_shape(cluster, project, clock):
    main = service(cluster, project, "main", gpus=2)
    other = service(cluster, project, "other", gpus=1)
    clock.shift(10)
    services.cluster_schedule_pass(cluster=cluster)
    with pytest.raises(Conflict, match="other resources per replica"):
        services.job_absorb(job=main, part=other)
    assert Job.objects.get(pk=other.pk).status == "RUNNING"
