"""A template's `observability.alerts` entries read as alert rules (pure: no database).

An entry names its `kind` (`burn_rate`, `not_running`, `degraded`, `cost_over_budget`, `latency`) with that kind's
params, or, as the product documents' templates write them, gives only a latency threshold
(`{name: orchestrator-p95-latency, threshold_ms: 3000}`): that is a `latency` rule, its component and percentile
taken from the name (`<component>-p<NN>-latency`) unless the entry says `component` and `quantile`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("burn_rate", "not_running", "degraded", "cost_over_budget", "latency")
SEVERITIES = ("page", "ticket")
LATENCY_WINDOWS = ("5m", "30m", "1h")
LATENCY_NAME = re.compile(r"^(?P<component>[a-z0-9][a-z0-9_-]*?)-p(?P<percentile>\d{2}(?:\.\d+)?)-latency$")


@dataclass(frozen=True)
class TemplateRule:
    name: str
    kind: str
    severity: str
    params: dict


def template_rules(observability: dict | None) -> tuple[list[TemplateRule], list[str]]:
    """The rules of a template's observability block, and why each entry that is not one was left out."""
    rules, skipped = [], []
    for index, entry in enumerate((observability or {}).get("alerts") or []):
        where = f"observability.alerts[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            skipped.append(f"{where}: an alert needs a name.")
            continue
        name = str(entry["name"])[:100]
        severity = entry.get("severity") if entry.get("severity") in SEVERITIES else "page"
        kind = entry.get("kind")
        if kind is None and ("threshold_ms" in entry or "threshold_s" in entry):
            params, problem = latency_params(entry)
            if problem:
                skipped.append(f"{where} ({name}): {problem}")
                continue
            rules.append(TemplateRule(name=name, kind="latency", severity=severity, params=params))
        elif kind in KINDS:
            if kind == "latency":
                params, problem = latency_params(entry)
                if problem:
                    skipped.append(f"{where} ({name}): {problem}")
                    continue
            else:
                params = {k: v for k, v in entry.items() if k not in ("name", "kind", "severity")}
            rules.append(TemplateRule(name=name, kind=kind, severity=severity, params=params))
        else:
            skipped.append(f"{where} ({name}): no kind, and no latency threshold to make it a latency rule.")
    return rules, skipped


def latency_params(entry: dict) -> tuple[dict, str]:
    """{component, quantile, threshold_s, window} of a latency entry, or why it is not one."""
    match = LATENCY_NAME.match(str(entry.get("name", "")))
    component = entry.get("component") or (match.group("component") if match else None)
    quantile = entry.get("quantile")
    if quantile is None and match:
        quantile = float(match.group("percentile")) / 100
    try:
        threshold = float(entry["threshold_s"]) if "threshold_s" in entry else float(entry["threshold_ms"]) / 1000
        quantile = float(quantile) if quantile is not None else None
    except (TypeError, ValueError, KeyError):
        return {}, "the threshold must be a number (threshold_ms or threshold_s)."
    window = entry.get("window", "5m")
    if not component:
        return {}, "which component? Name it <component>-p<NN>-latency or give `component`."
    if quantile is None or not 0 < quantile < 1:
        return {}, "which percentile? Name it <component>-p<NN>-latency or give `quantile` between 0 and 1."
    if threshold <= 0:
        return {}, "the threshold must be positive."
    if window not in LATENCY_WINDOWS:
        return {}, f"the window must be one of {', '.join(LATENCY_WINDOWS)}."
    return {"component": str(component), "quantile": quantile, "threshold_s": threshold, "window": window}, ""
