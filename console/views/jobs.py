"""A job's page: what it runs, where it waits, and for BATCH/TRAINING jobs its progress, checkpoints and resumes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from jobs import selectors
from jobs.checkpoints import interval_seconds
from jobs.models import Job
from jobs.resume import checkpoints_before_run

BAR_WIDTH = 600
MAX_TICKS = 200  # past that many checkpoints the marks would merge into a grey band


def progress_bar(job: Job, progress) -> dict:
    """The progress bar's geometry (SVG units over BAR_WIDTH): work done, work saved, checkpoint marks, losses."""
    duration = job.duration_seconds or 0
    scale = BAR_WIDTH / duration if duration else 0
    interval = interval_seconds(job.checkpoint_interval_minutes)
    ticks = []
    if interval and duration and duration / interval <= MAX_TICKS:
        mark = interval
        while mark < duration:
            ticks.append(round(mark * scale, 2))
            mark += interval
    losses = [
        {
            "x": round(entry.get("resumed_from_seconds", 0) * scale, 2),
            "width": round(max(entry.get("lost_seconds", 0) * scale, 1), 2),
            "title": f"{entry.get('kind')} at {entry.get('at')}: {entry.get('lost_seconds', 0):g} s lost",
        }
        for entry in job.resume_history or []
    ]
    return {
        "width": BAR_WIDTH,
        "done": round(progress.work_seconds * scale, 2),
        "saved": round(progress.checkpoint_work_seconds * scale, 2),
        "ticks": ticks,
        "losses": losses,
    }


@login_required
def job_detail_page(request, job_id):
    """One job of the caller's tenants (another tenant's is a 404)."""
    job = selectors.job_list(user=request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    now = timezone.now()
    context = {"job": job, "now": now, "queue": selectors.job_queue_info(job=job, now=now)}
    if job.job_type != Job.JobType.SERVICE:
        progress = job.progress_at(now)
        context.update(
            progress=progress,
            percent=round(100 * progress.fraction, 1),
            checkpoints=checkpoints_before_run(job) + progress.checkpoints_this_run,
            bar=progress_bar(job, progress),
            work_lost_minutes=round(job.work_lost_seconds / 60, 1),
        )
    return render(request, "console/jobs/detail.html", context)
