import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.conf import settings
from django.db.models import F, Sum

from billing.models import UsageRecord
from billing.tasks import meter_usage
from jobs.models import Job
from jobs.tasks import advance_jobs
from jobs.tests.factories import ClusterFactory, submit_job

T0 = dt.datetime(2026, 3, 2, 10, 0, 20, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_the_beat_task_meters_what_the_simulated_driver_ran_and_agrees_with_its_cost(tenant, project):
    cluster = ClusterFactory(tenant=tenant, name="sim")
    with time_machine.travel(T0, tick=False) as clock:
        job = submit_job(cluster, project, job_type="BATCH", gpus=2, duration_seconds=90)
        for _ in range(12):
            clock.shift(10)
            advance_jobs()
        clock.shift(120)
        summary = meter_usage()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and summary["jobs"] == 1
    records = UsageRecord.objects.filter(job=job)
    assert records.aggregate(s=Sum("seconds"))["s"] == Decimal("90.000000")  # 90 s of wall time, not 2 minutes
    metered = records.aggregate(total=Sum(F("gpu_amount") + F("cpu_amount") + F("memory_amount")))["total"]
    assert metered.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) == job.actual_cost


def test_beat_schedules_metering_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["billing-meter-usage"]
    assert (entry["task"], entry["schedule"]) == ("billing.meter_usage", 60.0)
