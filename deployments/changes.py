"""What a change to a running deployment does, computed once for the plan and for the action (pure, no Django).

Inputs are plain dicts: the current components (key -> planned component dict as deployed, plus its status) and
the desired plan's components (key -> planned component dict). The result names, per component, whether it is
unchanged, replaced (with a readable diff), scaled, added or removed, and which dependants are replaced because
an output they consume changes. Replaced components get a new generation (and so a new address); scaled ones keep
theirs, so their consumers are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

UNCHANGED = "unchanged"
REPLACED = "replaced"
SCALED = "scaled"
ADDED = "added"
REMOVED = "removed"

# Parts of a planned component whose change means a new deployment of it (a new job at a new address).
IDENTITY_FIELDS = (
    "component_id",
    "component_version",
    "job_type",
    "deployment_type",
    "config",
    "env",
    "spec",
    "model_id",
)
SCALE_FIELDS = ("replicas", "cpu", "memory_gib", "gpu_count", "gpu_type")


def diff_values(old: Any, new: Any, path: str = "") -> list[dict]:
    """A readable diff: [{"path": "config.model_id", "old": ..., "new": ...}], leaves only."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append({"path": sub, "old": None, "new": new[key]})
            elif key not in new:
                changes.append({"path": sub, "old": old[key], "new": None})
            else:
                changes.extend(diff_values(old[key], new[key], sub))
        return changes
    if old != new:
        return [{"path": path, "old": old, "new": new}]
    return []


@dataclass
class ComponentChange:
    key: str
    action: str
    reasons: list[str] = field(default_factory=list)
    diff: list[dict] = field(default_factory=list)
    old_resources: dict | None = None
    new_resources: dict | None = None

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "action": self.action,
            "reasons": self.reasons,
            "diff": self.diff,
            "old_resources": self.old_resources,
            "new_resources": self.new_resources,
        }


@dataclass
class ChangePlan:
    components: list[ComponentChange]

    def by_action(self, *actions: str) -> list[str]:
        return [c.key for c in self.components if c.action in actions]

    @property
    def is_noop(self) -> bool:
        return all(c.action == UNCHANGED for c in self.components)

    def to_dict(self) -> dict:
        return {
            "components": [c.to_dict() for c in self.components],
            "summary": {action: self.by_action(action) for action in (UNCHANGED, REPLACED, SCALED, ADDED, REMOVED)},
        }


def _identity(component: dict) -> dict:
    return {name: component.get(name) for name in IDENTITY_FIELDS}


def compute_change(
    *, current: dict[str, dict], desired: dict[str, dict], failed: set[str] | frozenset = frozenset()
) -> ChangePlan:
    """Compare the components as deployed with the desired ones.

    `current` and `desired` map a component key to its planned dict (with "resources", "depends_on",
    "output_refs"); `desired` keeps the desired start order. `failed` names current components that are not
    serving (a change replaces them whatever else it does).
    """
    changes: dict[str, ComponentChange] = {}
    for key, new in desired.items():
        old = current.get(key)
        if old is None:
            changes[key] = ComponentChange(key, ADDED, ["new in the template"], new_resources=new["resources"])
            continue
        identity_diff = diff_values(_identity(old), _identity(new))
        resource_diff = diff_values(old["resources"], new["resources"], "resources")
        if identity_diff or key in failed:
            reasons = ["its configuration changes"] if identity_diff else []
            if key in failed:
                reasons.append("it is not running")
            changes[key] = ComponentChange(
                key, REPLACED, reasons, identity_diff + resource_diff, old["resources"], new["resources"]
            )
        elif resource_diff:
            changes[key] = ComponentChange(
                key, SCALED, ["its replicas or resources change"], resource_diff, old["resources"], new["resources"]
            )
        else:
            changes[key] = ComponentChange(
                key, UNCHANGED, old_resources=old["resources"], new_resources=new["resources"]
            )
    # A replaced or added component has a new address: whoever consumes one of its outputs is replaced too,
    # transitively (the orchestrator after the LLM, the chat UI after the orchestrator).
    progress = True
    while progress:
        progress = False
        for key, new in desired.items():
            change = changes[key]
            if change.action not in (UNCHANGED, SCALED):
                continue
            moved = sorted(
                {
                    f"{ref_key}.{output}"
                    for ref_key, output in new.get("output_refs", [])
                    if changes.get(ref_key) and changes[ref_key].action in (REPLACED, ADDED)
                }
            )
            if moved:
                change.action = REPLACED
                change.reasons.append(f"it consumes {', '.join(moved)}, which changes")
                progress = True
    ordered = [changes[key] for key in desired]
    ordered += [
        ComponentChange(key, REMOVED, ["no longer in the template"], old_resources=current[key]["resources"])
        for key in current
        if key not in desired
    ]
    return ChangePlan(ordered)


def gpu_totals(resources_list: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for resources in resources_list:
        if resources and resources.get("gpu_count"):
            count = int(resources["gpu_count"]) * int(resources.get("replicas", 1))
            totals[resources["gpu_type"]] = totals.get(resources["gpu_type"], 0) + count
    return dict(sorted(totals.items()))


def gpu_delta(old: dict[str, int], new: dict[str, int]) -> dict[str, int]:
    return {
        gpu: new.get(gpu, 0) - old.get(gpu, 0)
        for gpu in sorted(set(old) | set(new))
        if new.get(gpu, 0) != old.get(gpu, 0)
    }


def apply_scale(component: dict, override: dict | None) -> dict:
    """A planned component with a per-component scale override (replicas, resources) applied."""
    if not override:
        return component
    resources = {**component["resources"], **(override.get("resources") or {})}
    if "replicas" in override:
        resources["replicas"] = override["replicas"]
    return {**component, "resources": resources}


def cost_sum(values) -> Decimal:
    return sum((Decimal(str(v)) for v in values), Decimal("0"))
