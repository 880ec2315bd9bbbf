"""What the simulated cluster makes up, deterministically (no Django): start-up times by kind, and which jobs fail
(a label forces it; otherwise the cluster's failure rate, drawn from its seed and the job's id)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

# A job's own start-up time, set by whoever knows better than the cluster's table: a component woken from zero
# carries its predicted cold start (image pull + weights load + warm-up, `autoscaling.coldstart`).
STARTUP_LABEL = "simulate.startup_seconds"


def startup_seconds(
    simulation: Mapping[str, Any], *, kind: str | None, job_type: str, labels: Mapping[str, Any] | None = None
) -> float:
    """Start-up time for a job: its `simulate.startup_seconds` label when it holds a number of seconds (0 or
    more), else by spec kind ("helm", "docker", "model"), then job type, then "default"."""
    given = (labels or {}).get(STARTUP_LABEL)
    if given is not None and not isinstance(given, bool):
        try:
            seconds = float(given)
        except (TypeError, ValueError):
            seconds = -1.0
        if 0 <= seconds < float("inf"):
            return seconds
    table = simulation.get("startup_seconds") or {}
    if not isinstance(table, Mapping):
        return float(table)
    for key in (kind, job_type, job_type.lower()):
        if key and key in table:
            return float(table[key])
    return float(table.get("default", 0))


def failure_draw(seed: Any, job_id: Any) -> float:
    """A number in [0, 1) fixed by the cluster's seed and the job's id: deterministic, no global RNG."""
    digest = hashlib.sha256(f"{seed}:{job_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


FORCE_FAIL_LABEL = "simulate.fail"
FORCE_FAIL_MESSAGE_LABEL = "simulate.fail_message"


def failure_message(simulation: Mapping[str, Any], *, job_id: Any, labels: Mapping[str, Any]) -> str | None:
    """Why the simulated job fails, or None when it does not."""
    if str(labels.get(FORCE_FAIL_LABEL, "")).lower() in {"true", "1", "yes"}:
        detail = labels.get(FORCE_FAIL_MESSAGE_LABEL) or f"label {FORCE_FAIL_LABEL}=true"
        return f"Simulated failure forced by {detail}."
    rate = float(simulation.get("failure_rate") or 0)
    if rate > 0 and failure_draw(simulation.get("seed", 0), job_id) < rate:
        return f"Simulated failure (cluster failure_rate {rate:g})."
    return None
