"""Choosing a cluster of a set for a piece of work (pure: no Django), in the way of MultiKueue.

MultiKueue copies a workload to every worker cluster and keeps the copy the first one admits. Here every member's
future is already known to the control plane (its driver's forecast), so the set asks each member when the work
would start and what it would cost, and sends it to one: the earliest start, or the lowest cost, as the caller asks;
the other criterion, then the name, break ties. A member that could never run it, or is not ACTIVE, is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

EARLIEST_START = "earliest_start"
LOWEST_COST = "lowest_cost"
STRATEGIES = (EARLIEST_START, LOWEST_COST)


@dataclass(frozen=True)
class Candidate:
    """One member of the set as a home for the work."""

    cluster_id: str
    name: str
    status: str
    predicted_start: datetime | None  # None: it would wait behind capacity that is never released
    hourly_cost: Decimal
    cost: Decimal  # the whole run of a BATCH/TRAINING job; one hour of a SERVICE or a deployment
    fits_now: bool = False
    excluded: str = ""  # why it cannot take the work ("" when it can)

    def as_dict(self) -> dict:
        return {
            "cluster_id": self.cluster_id,
            "name": self.name,
            "status": self.status,
            "predicted_start": self.predicted_start.isoformat() if self.predicted_start else None,
            "hourly_cost": str(self.hourly_cost),
            "cost": str(self.cost),
            "fits_now": self.fits_now,
            "excluded": self.excluded,
        }


@dataclass(frozen=True)
class Placement:
    strategy: str
    chosen: Candidate | None
    runner_up: Candidate | None
    candidates: tuple[Candidate, ...]  # eligible ones in rank order, then the excluded ones

    @property
    def reason(self) -> str:
        """One sentence: why this member (or why none)."""
        if self.chosen is None:
            return (
                "No cluster of the set can run it: " + "; ".join(f"{c.name}: {c.excluded}" for c in self.candidates)
                if self.candidates
                else "The set has no clusters."
            )
        what = "starts first" if self.strategy == EARLIEST_START else "costs least"
        text = f"{self.chosen.name} {what}"
        if self.runner_up is not None:
            text += f" (runner-up {self.runner_up.name})"
        return text + "."

    def as_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "chosen": self.chosen.as_dict() if self.chosen else None,
            "runner_up": self.runner_up.as_dict() if self.runner_up else None,
            "candidates": [c.as_dict() for c in self.candidates],
            "reason": self.reason,
        }


def _rank_key(candidate: Candidate, strategy: str) -> tuple:
    # A start that never comes sorts after every real one.
    start = (
        candidate.predicted_start is None,
        candidate.predicted_start.timestamp() if candidate.predicted_start else 0,
    )
    if strategy == LOWEST_COST:
        return (candidate.cost, *start, candidate.name, candidate.cluster_id)
    return (*start, candidate.cost, candidate.name, candidate.cluster_id)


def choose(candidates: list[Candidate], strategy: str) -> Placement:
    """Rank the eligible members by the strategy; the first is chosen, the second is the runner-up."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    eligible = sorted((c for c in candidates if not c.excluded), key=lambda c: _rank_key(c, strategy))
    excluded = sorted((c for c in candidates if c.excluded), key=lambda c: c.name)
    return Placement(
        strategy=strategy,
        chosen=eligible[0] if eligible else None,
        runner_up=eligible[1] if len(eligible) > 1 else None,
        candidates=(*eligible, *excluded),
    )
