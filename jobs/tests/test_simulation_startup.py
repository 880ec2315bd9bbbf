"""A job may carry its own start-up time (a component woken from zero: its predicted cold start)."""

import pytest

from jobs.simulation import STARTUP_LABEL, startup_seconds

TABLE = {"startup_seconds": {"default": 5, "helm": 20}}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (None, 5.0),
        ({STARTUP_LABEL: "43.1"}, 43.1),
        ({STARTUP_LABEL: 0}, 0.0),
        ({STARTUP_LABEL: "soon"}, 5.0),  # not a number: the cluster's table
        ({STARTUP_LABEL: "-3"}, 5.0),
        ({STARTUP_LABEL: "inf"}, 5.0),
        ({STARTUP_LABEL: True}, 5.0),
    ],
)
def test_the_label_wins_over_the_table_when_it_is_a_number_of_seconds(labels, expected):
    assert startup_seconds(TABLE, kind="docker", job_type="SERVICE", labels=labels) == expected
