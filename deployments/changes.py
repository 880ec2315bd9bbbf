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

from jobs.scheduling import per_replica

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

# How a scaled component changes, as a Kubernetes Deployment scales: a service that only changes its replica
# count is resized in place (an extra part for the new replicas waits for capacity on its own, then is
# absorbed; fewer replicas stop at once); other resource changes start a new part beside the old one.
ADD_REPLICAS = "add_replicas"
REMOVE_REPLICAS = "remove_replicas"
NEW_PART = "new_part"


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
    scale_mode: str | None = None  # for SCALED: ADD_REPLICAS, REMOVE_REPLICAS or NEW_PART
    # The component is at zero (no job): its new part is recorded at zero under the same address, and the next
    # wake starts it; nothing starts beside it now, and its consumers are not touched.
    at_zero: bool = False

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "action": self.action,
            "reasons": self.reasons,
            "diff": self.diff,
            "old_resources": self.old_resources,
            "new_resources": self.new_resources,
            "scale_mode": self.scale_mode,
            "at_zero": self.at_zero,
        }

    @property
    def starts_a_part(self) -> bool:
        """Whether the change runs a new job (everything but unchanged, removed, and fewer replicas)."""
        return self.action in (REPLACED, ADDED) or (self.action == SCALED and self.scale_mode != REMOVE_REPLICAS)

    @property
    def part_resources(self) -> dict | None:
        """What the new job asks for: the whole component, or only the added replicas of an extra part."""
        if not self.starts_a_part:
            return None
        if self.scale_mode == ADD_REPLICAS:
            added = replica_count(self.new_resources) - replica_count(self.old_resources)
            return {**self.new_resources, "replicas": added}
        return self.new_resources


@dataclass
class ChangeSet:
    components: list[ComponentChange]

    def by_action(self, *actions: str) -> list[str]:
        return [c.key for c in self.components if c.action in actions]

    @property
    def new_parts(self) -> list[ComponentChange]:
        return [c for c in self.components if c.starts_a_part]

    @property
    def stopped_after_switch(self) -> list[str]:
        """Components whose old part stops once the new parts run (replaced, removed, or scaled by a new part)."""
        return [
            c.key
            for c in self.components
            if c.action in (REPLACED, REMOVED) or (c.action == SCALED and c.scale_mode == NEW_PART)
        ]

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


def replica_count(resources: dict | None) -> int:
    return int((resources or {}).get("replicas", 1) or 1)


def scale_mode(old: dict, new: dict, *, job_type: str) -> str:
    """How a component whose resources change is scaled (see ADD_REPLICAS)."""
    if job_type == "SERVICE" and per_replica(old) == per_replica(new):
        return ADD_REPLICAS if replica_count(new) > replica_count(old) else REMOVE_REPLICAS
    return NEW_PART


SCALE_REASONS = {
    ADD_REPLICAS: "it gains {n} {replicas}: an extra part starts and joins it once running",
    REMOVE_REPLICAS: "it drops {n} {replicas} in place",
    NEW_PART: "its resources change: a new part starts beside the old one",
}


AT_ZERO_REASON = "it is at zero: the next wake starts the new configuration, at the same address"


def compute_change(
    *,
    current: dict[str, dict],
    desired: dict[str, dict],
    failed: set[str] | frozenset = frozenset(),
    at_zero: set[str] | frozenset = frozenset(),
) -> ChangeSet:
    """Compare the components as deployed with the desired ones.

    `current` and `desired` map a component key to its planned dict (with "resources", "depends_on",
    "output_refs"); `desired` keeps the desired start order. `failed` names current components that are not
    serving (a change replaces them whatever else it does); `at_zero` those scaled to zero (no job): a change to one
    is recorded for its next wake, at the same address (so its consumers stay), and scales by a new part at zero.
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
            if key in at_zero:
                reasons.append(AT_ZERO_REASON)
            changes[key] = ComponentChange(
                key,
                REPLACED,
                reasons,
                identity_diff + resource_diff,
                old["resources"],
                new["resources"],
                at_zero=key in at_zero,
            )
        elif resource_diff and key in at_zero:
            count = replica_count(new["resources"])
            reason = f"it is at zero: the next wake starts it with {count} {'replica' if count == 1 else 'replicas'}"
            changes[key] = ComponentChange(
                key, SCALED, [reason], resource_diff, old["resources"], new["resources"], NEW_PART, at_zero=True
            )
        elif resource_diff:
            mode = scale_mode(old["resources"], new["resources"], job_type=new.get("job_type", "SERVICE"))
            count = abs(replica_count(new["resources"]) - replica_count(old["resources"]))
            reason = SCALE_REASONS[mode].format(n=count, replicas="replica" if count == 1 else "replicas")
            changes[key] = ComponentChange(
                key, SCALED, [reason], resource_diff, old["resources"], new["resources"], scale_mode=mode
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
                    if changes.get(ref_key)
                    and changes[ref_key].action in (REPLACED, ADDED)
                    and not changes[ref_key].at_zero  # replaced at zero: the same address
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
    return ChangeSet(ordered)


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
