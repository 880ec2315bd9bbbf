"""The one table of allowed job status changes, and the refusal of everything else."""

import pytest

from core.exceptions import Conflict
from jobs.models import ALLOWED_TRANSITIONS, Job, check_transition


@pytest.mark.parametrize("terminal", ["SUCCEEDED", "FAILED", "CANCELLED"])
@pytest.mark.parametrize("target", ["PENDING", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"])
def test_a_finished_job_never_changes_status(terminal, target):
    with pytest.raises(Conflict, match=f"is {terminal}; it cannot become {target}"):
        check_transition(Job(status=terminal), target)


def test_a_running_job_goes_back_to_waiting_only_as_queued():
    # QUEUED is an interruption (a checkpointing job resumes later); PENDING would look freshly submitted.
    with pytest.raises(Conflict):
        check_transition(Job(status="RUNNING"), "PENDING")
    check_transition(Job(status="RUNNING"), "QUEUED")


def test_every_allowed_change_passes():
    for before, targets in ALLOWED_TRANSITIONS.items():
        for target in targets:
            check_transition(Job(status=before), target)
