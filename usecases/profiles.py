"""The derived profiles of a use case and their thresholds: the one place they are defined.

latency_profile, from ``e2e_max`` (seconds, end-to-end latency target):
    <= 2 s ``real-time`` · <= 5 s ``interactive`` · <= 10 s ``responsive`` · otherwise ``batch``.
    A use case without an ``e2e_max`` has no latency target, so it is ``batch``.

input_length_profile, from ``input_tokens_max``:
    <= 1,000 ``short`` · <= 10,000 ``medium`` · otherwise ``long``.

Each profile is computed in Python for responses (``latency_profile()``) and expressed as a ``Q`` for filters,
stats and the admin (``latency_profile_q()``), both from the same threshold tables below.
"""

from __future__ import annotations

from django.db.models import Q

# (name, inclusive upper bound); the last entry has no bound and takes everything above the previous one.
LATENCY_PROFILES: tuple[tuple[str, float | None], ...] = (
    ("real-time", 2.0),
    ("interactive", 5.0),
    ("responsive", 10.0),
    ("batch", None),
)
INPUT_LENGTH_PROFILES: tuple[tuple[str, int | None], ...] = (
    ("short", 1_000),
    ("medium", 10_000),
    ("long", None),
)

LATENCY_PROFILE_NAMES = tuple(name for name, _ in LATENCY_PROFILES)
INPUT_LENGTH_PROFILE_NAMES = tuple(name for name, _ in INPUT_LENGTH_PROFILES)


def _classify(value, table) -> str:
    if value is None:
        return table[-1][0]
    for name, bound in table:
        if bound is None or value <= bound:
            return name
    raise AssertionError("the last profile has no bound")  # pragma: no cover


def _q(field: str, name: str, table) -> Q:
    lower = None
    for profile, bound in table:
        if profile == name:
            q = Q() if bound is None else Q(**{f"{field}__lte": bound})
            if lower is not None:
                q &= Q(**{f"{field}__gt": lower})
            if bound is None:
                q |= Q(**{f"{field}__isnull": True})
            return q
        lower = bound
    raise ValueError(f"unknown profile {name!r}")


def latency_profile(e2e_max: float | None) -> str:
    """The latency profile for an end-to-end latency target in seconds."""
    return _classify(e2e_max, LATENCY_PROFILES)


def input_length_profile(input_tokens_max: int | None) -> str:
    """The input-length profile for a maximum input length in tokens."""
    return _classify(input_tokens_max, INPUT_LENGTH_PROFILES)


def latency_profile_q(name: str) -> Q:
    """Rows whose latency profile is `name`."""
    return _q("e2e_max", name, LATENCY_PROFILES)


def input_length_profile_q(name: str) -> Q:
    """Rows whose input-length profile is `name`."""
    return _q("input_tokens_max", name, INPUT_LENGTH_PROFILES)
