"""The job page: progress, checkpoints and resumes of a TRAINING job; another tenant's job is a 404."""

import datetime as dt

import pytest
import time_machine

from jobs import services
from jobs.tests.factories import SPEC, resources

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def test_job_page_shows_progress_checkpoints_and_work_lost(member_web, other_web, cluster, project):
    cluster.simulation = {"startup_seconds": {"default": 0}}
    cluster.save()
    with time_machine.travel(T0, tick=False) as clock:
        job = services.job_submit(
            cluster=cluster,
            name="finetune",
            job_type="TRAINING",
            tenant=cluster.tenant,
            project=project,
            resources=resources(gpus=2),
            spec=SPEC,
            duration_seconds=3600,
            checkpoint_interval_minutes=10,
        )
        services.job_requeue(job=job, reason="node drained", now=T0 + dt.timedelta(seconds=1500))
        clock.move_to(T0 + dt.timedelta(seconds=1800))
        page = member_web.get(f"/jobs/{job.pk}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "node drained" in html
        assert "Resumes</dt><dd>1" in html
        assert "5.0 min in total" in html  # 1500 s run, checkpoint at 1200 s: 300 s lost
        assert "<svg" in html
        assert other_web.get(f"/jobs/{job.pk}/").status_code == 404
