"""The weighted fair shares a contended run is measured against (the fair-share bench and tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def weighted_fair_shares(capacity: float, weights: Mapping[Any, float], demands: Mapping[Any, float]) -> dict:
    """Water-filling: split `capacity` by weight, capping each at its demand and handing the rest on (the
    reference the fair-share bench compares GPU-hours with)."""
    shares = {key: 0.0 for key in weights}
    open_keys = {key for key in weights if demands.get(key, 0) > 0 and weights[key] > 0}
    left = capacity
    while open_keys and left > 1e-9:
        total_weight = sum(weights[k] for k in open_keys)
        step = {k: left * weights[k] / total_weight for k in open_keys}
        capped = {k for k in open_keys if shares[k] + step[k] >= demands[k]}
        if not capped:
            for k in open_keys:
                shares[k] += step[k]
            break
        for k in capped:
            left -= demands[k] - shares[k]
            shares[k] = demands[k]
        open_keys -= capped
    return shares
