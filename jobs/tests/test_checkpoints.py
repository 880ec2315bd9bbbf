"""The checkpoint arithmetic (pure, no database): what a run saves, and what an interruption loses."""

import datetime as dt

import pytest

from jobs.checkpoints import MAX_FAILURE_RESUMES, interruption_at, interval_seconds, progress_at, resumes_after_failure

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_checkpoints_are_taken_every_interval_of_work():
    progress = progress_at(duration=3600, interval=600, resumed_from=0, started_at=T0, now=at(1900))
    assert progress.work_seconds == 1900
    assert progress.checkpoints_this_run == 3
    assert progress.checkpoint_work_seconds == 1800
    assert progress.last_checkpoint_at == at(1800)
    assert progress.fraction == pytest.approx(1900 / 3600)


def test_a_resumed_run_counts_its_checkpoints_from_where_it_resumed():
    progress = progress_at(duration=3600, interval=600, resumed_from=1800, started_at=T0, now=at(700))
    assert progress.work_seconds == 2500
    assert progress.checkpoint_work_seconds == 2400
    assert progress.checkpoints_this_run == 1
    assert progress.last_checkpoint_at == at(600)


def test_finishing_is_not_a_checkpoint_and_progress_stops_at_the_end():
    progress = progress_at(duration=1800, interval=600, resumed_from=0, started_at=T0, now=at(5000))
    assert progress.fraction == 1.0
    assert progress.work_seconds == 1800
    assert progress.checkpoints_this_run == 2  # at 600 and 1200; 1800 is the end


@pytest.mark.parametrize("elapsed", [0, 1, 599, 600, 601, 1199.5, 2999])
def test_an_interruption_loses_less_than_one_interval(elapsed):
    cut = interruption_at(duration=3600, interval=600, resumed_from=0, started_at=T0, now=at(elapsed))
    assert 0 <= cut.lost_seconds < 600
    assert cut.resume_from_seconds + cut.lost_seconds == pytest.approx(elapsed)
    assert cut.resume_from_seconds % 600 == 0


def test_without_an_interval_an_interruption_loses_the_whole_run():
    cut = interruption_at(duration=3600, interval=None, resumed_from=0, started_at=T0, now=at(1500))
    assert cut.resume_from_seconds == 0
    assert cut.lost_seconds == 1500


def test_a_job_still_starting_up_loses_nothing():
    cut = interruption_at(duration=3600, interval=600, resumed_from=1200, started_at=None, now=at(100))
    assert cut.resume_from_seconds == 1200
    assert cut.lost_seconds == 0


def test_interval_in_minutes_and_the_failure_limit():
    assert interval_seconds(2.5) == 150
    assert interval_seconds(None) is None
    assert resumes_after_failure(interval=60, failures_so_far=MAX_FAILURE_RESUMES - 1)
    assert not resumes_after_failure(interval=60, failures_so_far=MAX_FAILURE_RESUMES)
    assert not resumes_after_failure(interval=None, failures_so_far=0)
