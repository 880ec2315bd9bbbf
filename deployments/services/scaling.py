"""The shape of a scale request: which components, how many replicas (the one limit of the job layer), which
resources may change. Used by `deployment_scale` and the change plan alike."""

from __future__ import annotations

from core.exceptions import ValidationError
from jobs.validation import MAX_REPLICAS

SCALE_RESOURCE_KEYS = frozenset({"cpu", "memory_gib", "gpu_count", "gpu_type"})


def _check_scale_resources(resources: dict, gpu_types) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "gpu_type" in resources and resources["gpu_type"] not in gpu_types:
        errors["gpu_type"] = [f"Unknown GPU type; the cluster has {', '.join(sorted(gpu_types)) or 'none'}."]
    for name in ("gpu_count", "cpu", "memory_gib"):
        if name not in resources:
            continue
        value = resources[name]
        whole = name == "gpu_count"
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value < 0:
            errors[name] = ["A whole number, 0 or more." if whole else "A number, 0 or more."]
    return errors


def scale_request_check(scale, current_keys, gpu_types=frozenset()) -> dict:
    """A scale request ({key: replicas or {"replicas", "resources"}}) checked against the deployment's components
    and the cluster's GPU types; the clean {key: {"replicas"?, "resources"?}} or ValidationError by field path."""
    if not isinstance(scale, dict) or not scale:
        raise ValidationError({"scale": ['An object such as {"llm": {"replicas": 3}} is required.']})
    errors: dict[str, list[str]] = {}
    clean: dict[str, dict] = {}
    for key, value in scale.items():
        path = f"scale.{key}"
        if key not in current_keys:
            errors[path] = [f"Unknown component {key!r}; the deployment has {', '.join(sorted(current_keys))}."]
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"replicas": value}
        if not isinstance(value, dict) or not ({"replicas", "resources"} & set(value)):
            errors[path] = ['Give {"replicas": N} and/or {"resources": {...}}.']
            continue
        unknown = set(value) - {"replicas", "resources"}
        if unknown:
            errors[path] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
            continue
        entry: dict = {}
        if "replicas" in value:
            replicas = value["replicas"]
            if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_REPLICAS:
                errors[f"{path}.replicas"] = [f"A whole number from 1 to {MAX_REPLICAS}."]
                continue
            entry["replicas"] = replicas
        if "resources" in value:
            resources = value["resources"]
            if not isinstance(resources, dict) or set(resources) - SCALE_RESOURCE_KEYS:
                errors[f"{path}.resources"] = [f"Only {', '.join(sorted(SCALE_RESOURCE_KEYS))} can be changed."]
                continue
            resource_errors = _check_scale_resources(resources, gpu_types)
            if resource_errors:
                errors.update({f"{path}.resources.{name}": messages for name, messages in resource_errors.items()})
                continue
            entry["resources"] = resources
        clean[key] = entry
    if errors:
        raise ValidationError(errors)
    return clean
