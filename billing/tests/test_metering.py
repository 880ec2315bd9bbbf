import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from billing import metering
from billing.metering import metering_pass
from billing.models import DailyCost, MeteringState, UsageRecord
from billing.services import price_list_create
from core.exceptions import ValidationError
from jobs.models import Job
from jobs.tests.factories import ClusterFactory, resources

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
PRICES = {"gpu_hour": {"H100-80GB": 3.6, "A100-80GB": 1.5}, "cpu_hour": 0.036, "memory_gib_hour": 0.0036}


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(tenant=tenant, name="sim", prices=PRICES)


def ran(cluster, project, *, start, stop=None, gpus=1, cpu=2, memory_gib=4, replicas=1):
    """A job that really ran from `start` to `stop` (None: still running)."""
    return Job.objects.create(
        name="job",
        job_type=Job.JobType.SERVICE,
        cluster=cluster,
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=gpus, cpu=cpu, memory_gib=memory_gib, replicas=replicas),
        status=Job.Status.SUCCEEDED if stop else Job.Status.RUNNING,
        started_at=start,
        completed_at=stop,
    )


def totals(**filters) -> dict:
    return UsageRecord.objects.filter(**filters).aggregate(
        seconds=Sum("seconds"),
        gpu=Sum("gpu_minutes"),
        cpu=Sum("cpu_core_minutes"),
        mem=Sum("memory_gib_minutes"),
        gpu_amount=Sum("gpu_amount"),
        cpu_amount=Sum("cpu_amount"),
        memory_amount=Sum("memory_amount"),
    )


def test_a_job_running_90_seconds_mid_minute_bills_one_and_a_half_minutes(cluster, project):
    job = ran(cluster, project, start=T0 + dt.timedelta(seconds=45), stop=T0 + dt.timedelta(seconds=135), replicas=2)
    metering_pass(now=T0 + dt.timedelta(minutes=10))
    rows = list(UsageRecord.objects.filter(job=job).order_by("minute").values_list("minute", "seconds"))
    assert rows == [
        (T0, Decimal("15.000000")),
        (T0 + dt.timedelta(minutes=1), Decimal("60.000000")),
        (T0 + dt.timedelta(minutes=2), Decimal("15.000000")),
    ]
    sums = totals(job=job)
    # 2 replicas x 1.5 minutes: 3 GPU-minutes, 6 core-minutes, 12 GiB-minutes.
    assert (sums["gpu"], sums["cpu"], sums["mem"]) == (Decimal(3), Decimal(6), Decimal(12))
    # 3.6/h per GPU is 0.06/min: 3 GPU-minutes cost 0.18; cores 0.0006/min x 6; GiB 0.00006/min x 12.
    assert sums["gpu_amount"] == Decimal("0.18")
    assert sums["cpu_amount"] == Decimal("0.0036")
    assert sums["memory_amount"] == Decimal("0.00072")


def test_a_running_job_is_metered_only_for_minutes_that_are_over(cluster, project):
    job = ran(cluster, project, start=T0 + dt.timedelta(seconds=30))
    metering_pass(now=T0 + dt.timedelta(minutes=2, seconds=20))
    assert list(UsageRecord.objects.filter(job=job).values_list("seconds", flat=True).order_by("minute")) == [
        Decimal("30.000000"),
        Decimal("60.000000"),
    ]
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.CANCELLED, completed_at=T0 + dt.timedelta(minutes=2, seconds=50)
    )
    metering_pass(now=T0 + dt.timedelta(minutes=3))
    assert totals(job=job)["seconds"] == Decimal("140.000000")


def test_a_repeated_pass_writes_nothing_new(cluster, project):
    ran(cluster, project, start=T0 + dt.timedelta(seconds=7), stop=T0 + dt.timedelta(minutes=30, seconds=3))
    first = metering_pass(now=T0 + dt.timedelta(hours=1))
    count = UsageRecord.objects.count()
    assert count == 31 and first["records_offered"] == 31
    metering_pass(now=T0 + dt.timedelta(hours=1))
    metering_pass(now=T0 + dt.timedelta(hours=2))
    assert UsageRecord.objects.count() == count


def test_a_pass_killed_midway_is_completed_without_duplicates(cluster, project):
    job = ran(cluster, project, start=T0, stop=T0 + dt.timedelta(minutes=20, seconds=30))
    # A worker killed after writing its first batch: some minutes recorded, the pass's end never recorded.
    with pytest.raises(RuntimeError), transaction.atomic():
        _interrupted_pass(batch_size=7)
    UsageRecord.objects.filter(minute__gte=T0 + dt.timedelta(minutes=7)).delete()  # what an aborted batch leaves
    metering_pass(now=T0 + dt.timedelta(hours=1))
    assert UsageRecord.objects.filter(job=job).count() == 21
    assert totals(job=job)["seconds"] == Decimal("1230.000000")


def _interrupted_pass(*, batch_size: int):
    metering_pass(now=T0 + dt.timedelta(hours=1), batch_size=batch_size)
    raise RuntimeError("worker killed")


def test_the_database_refuses_a_second_record_of_a_job_minute(cluster, project):
    job = ran(cluster, project, start=T0, stop=T0 + dt.timedelta(minutes=1))
    metering_pass(now=T0 + dt.timedelta(minutes=5))
    record = UsageRecord.objects.get(job=job)
    record.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save()


def test_a_price_change_bills_each_side_at_its_price(cluster, project, admin_user):
    job = ran(cluster, project, start=T0, stop=T0 + dt.timedelta(minutes=4), cpu=0, memory_gib=0)
    doubled = {**PRICES, "gpu_hour": {"H100-80GB": 7.2, "A100-80GB": 1.5}}
    change = price_list_create(
        user=admin_user, cluster=cluster, prices=doubled, effective_from=T0 + dt.timedelta(minutes=1)
    )
    metering_pass(now=T0 + dt.timedelta(minutes=10))
    amounts = list(UsageRecord.objects.filter(job=job).order_by("minute").values_list("gpu_amount", "price_list"))
    assert amounts[0][0] == Decimal("0.06") and amounts[0][1] != change.pk
    assert amounts[1:] == [(Decimal("0.12"), change.pk)] * 3
    cluster.refresh_from_db()
    assert cluster.prices == doubled  # in effect already: new jobs' rates use it


def test_a_price_change_must_fall_on_a_whole_minute(cluster, admin_user):
    with pytest.raises(ValidationError) as error:
        price_list_create(user=admin_user, cluster=cluster, prices=PRICES, effective_from=T0 + dt.timedelta(seconds=5))
    assert "effective_from" in error.value.errors
    with pytest.raises(ValidationError) as error:
        price_list_create(user=admin_user, cluster=cluster, prices={"cpu_hour": "x"}, effective_from=T0)
    assert any(key.startswith("prices") for key in error.value.errors)


def test_a_cpu_job_has_no_gpu_minutes_and_a_job_that_never_started_no_records(cluster, project):
    cpu_job = ran(cluster, project, start=T0, stop=T0 + dt.timedelta(seconds=30), gpus=0)
    Job.objects.create(
        name="never",
        job_type="SERVICE",
        cluster=cluster,
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=1),
        status=Job.Status.CANCELLED,
        completed_at=T0,
    )
    metering_pass(now=T0 + dt.timedelta(minutes=5))
    record = UsageRecord.objects.get()
    assert record.job_id == cpu_job.pk and record.gpu_type == "" and record.gpu_minutes == 0
    assert record.cpu_core_minutes == Decimal(1)


def test_a_worker_killed_after_a_committed_batch_leaves_no_duplicate_minute_or_daily_cost(
    cluster, project, monkeypatch
):
    job = ran(cluster, project, start=T0 + dt.timedelta(seconds=20), stop=T0 + dt.timedelta(minutes=20, seconds=50))
    real_write, calls = metering._write, []

    def dies_after_the_first_batch(rows):
        if calls:
            raise RuntimeError("worker killed")
        calls.append(len(rows))
        return real_write(rows)

    monkeypatch.setattr(metering, "_write", dies_after_the_first_batch)
    with pytest.raises(RuntimeError):
        metering_pass(now=T0 + dt.timedelta(hours=1), batch_size=7)
    assert UsageRecord.objects.filter(job=job).count() == 7  # the first batch committed, the rest never written
    assert MeteringState.objects.get().last_pass_started_at is None  # the pass never completed
    monkeypatch.setattr(metering, "_write", real_write)

    metering_pass(now=T0 + dt.timedelta(hours=1))
    metering_pass(now=T0 + dt.timedelta(hours=1))
    assert UsageRecord.objects.filter(job=job).count() == 21
    assert totals(job=job)["seconds"] == Decimal("1230.000000")
    exact = UsageRecord.objects.aggregate(s=Sum(F("gpu_amount") + F("cpu_amount") + F("memory_amount")))["s"]
    assert DailyCost.objects.aggregate(s=Sum("amount"))["s"] == exact  # no minute counted twice in the day's sum
