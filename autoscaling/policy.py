"""Autoscaling policies (no Django): the fields, their defaults and the one checker the template loader, the API
and the console share, with errors by field path."""

from __future__ import annotations

from dataclasses import asdict, dataclass

SIGNALS = ("concurrency", "queue_depth", "gpu_utilisation", "slo_ttft", "slo_itl")
SIGNAL_LABELS = {
    "concurrency": "concurrent requests per replica",
    "queue_depth": "waiting requests per replica",
    "gpu_utilisation": "GPU utilisation (0-1)",
    "slo_ttft": "p95 TTFT (s)",
    "slo_itl": "p95 ITL (s)",
}
# The SLO signals may leave `target` out: the use case's TTFT / ITL target is then the target.
SLO_SIGNALS = frozenset({"slo_ttft", "slo_itl"})
DEFAULT_TARGETS = {"concurrency": 16.0, "queue_depth": 4.0, "gpu_utilisation": 0.7}
LIMITS = {
    "scale_up_window_s": (0, 3600),
    "scale_down_window_s": (0, 24 * 3600),
    "idle_timeout_s": (60, 7 * 24 * 3600),
}
FIELDS = (
    "min_replicas",
    "max_replicas",
    "signal",
    "target",
    "scale_up_window_s",
    "scale_down_window_s",
    "max_step",
    "idle_timeout_s",
    "enabled",
)


@dataclass(frozen=True)
class Policy:
    """How one component scales: between min and max replicas (min 0: to zero after `idle_timeout_s` without a
    request), following one signal towards a target, at most `max_step` replicas per decision."""

    min_replicas: int = 1
    max_replicas: int = 1
    signal: str = "concurrency"
    target: float | None = None  # None with an SLO signal: the use case's target
    scale_up_window_s: int = 60
    scale_down_window_s: int = 300
    max_step: int = 2
    idle_timeout_s: int = 600
    enabled: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def scales_to_zero(self) -> bool:
        return self.min_replicas == 0


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def policy_errors(data, *, max_replicas: int, prefix: str = "") -> dict[str, list[str]]:
    """Problems of a policy given as a dict (partial or whole), as {field path: [reason]}; empty when sound."""
    if not isinstance(data, dict):
        return {prefix.rstrip(".") or "non_field_errors": ["An object is required."]}
    errors: dict[str, list[str]] = {}
    for name in sorted(set(data) - set(FIELDS)):
        errors[f"{prefix}{name}"] = [f"Unknown field; the fields are {', '.join(FIELDS)}."]
    if "min_replicas" in data and not _whole(data["min_replicas"], 0, max_replicas):
        errors[f"{prefix}min_replicas"] = [f"A whole number from 0 to {max_replicas}."]
    if "max_replicas" in data and not _whole(data["max_replicas"], 1, max_replicas):
        errors[f"{prefix}max_replicas"] = [f"A whole number from 1 to {max_replicas}."]
    if "max_step" in data and not _whole(data["max_step"], 1, max_replicas):
        errors[f"{prefix}max_step"] = [f"A whole number from 1 to {max_replicas}."]
    for name, (low, high) in LIMITS.items():
        if name in data and not _whole(data[name], low, high):
            errors[f"{prefix}{name}"] = [f"Whole seconds from {low} to {high}."]
    if "signal" in data and data["signal"] not in SIGNALS:
        errors[f"{prefix}signal"] = [f"One of {', '.join(SIGNALS)}."]
    if "enabled" in data and not isinstance(data["enabled"], bool):
        errors[f"{prefix}enabled"] = ["true or false."]
    target = data.get("target")
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, int | float) or target <= 0:
            errors[f"{prefix}target"] = ["A number above 0."]
        elif data.get("signal") == "gpu_utilisation" and target > 1:
            errors[f"{prefix}target"] = ["GPU utilisation is a share: above 0, at most 1."]
    low, high = data.get("min_replicas"), data.get("max_replicas")
    if _whole(low, 0, max_replicas) and _whole(high, 1, max_replicas) and low > high:
        errors[f"{prefix}min_replicas"] = [f"At most max_replicas ({high})."]
    return errors


def policy_from(data: dict, *, base: Policy | None = None) -> Policy:
    """A checked dict laid over `base` (the defaults when None); a non-SLO signal without a target gets its default."""
    merged = {**(base or Policy()).to_dict(), **{k: v for k, v in data.items() if k in FIELDS}}
    if merged["target"] is None and merged["signal"] not in SLO_SIGNALS:
        merged["target"] = DEFAULT_TARGETS[merged["signal"]]
    if merged["target"] is not None:
        merged["target"] = float(merged["target"])
    return Policy(**merged)


def parse_range(text: str, *, max_replicas: int) -> tuple[str, int, int]:
    """`llm=1:4` (the CLI's --autoscale) → ("llm", 1, 4); ValueError with the reason otherwise."""
    key, sep, span = text.partition("=")
    low, colon, high = span.partition(":")
    if not sep or not colon or not key.strip():
        raise ValueError(f"{text!r}: give COMPONENT=MIN:MAX, e.g. llm=1:4.")
    try:
        low_n, high_n = int(low), int(high)
    except ValueError:
        raise ValueError(f"{text!r}: MIN and MAX are whole numbers.") from None
    errors = policy_errors({"min_replicas": low_n, "max_replicas": high_n}, max_replicas=max_replicas)
    if errors:
        raise ValueError(f"{text!r}: " + " ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
    return key.strip(), low_n, high_n
