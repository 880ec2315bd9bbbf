"""A scale request checked against the deployment: its shape (`deployments.validation`), then the service's rules:
only the deployment's components, only the cluster's GPU types. Used by `deployment_scale` and the change plan."""

from __future__ import annotations

from core.exceptions import ValidationError
from deployments.validation import scale_request_shape


def scale_request_check(scale, current_keys, gpu_types=frozenset()) -> dict:
    """A scale request ({key: replicas or {"replicas", "resources"}}) checked against the deployment's components
    and the cluster's GPU types; the clean {key: {"replicas"?, "resources"?}} or ValidationError by field path."""
    if not isinstance(scale, dict) or not scale:
        return scale_request_shape(scale)  # raises: the shape says what is expected
    errors: dict[str, list[str]] = {}
    known = {key: value for key, value in scale.items() if key in current_keys}
    for key in scale.keys() - known.keys():
        errors[f"scale.{key}"] = [f"Unknown component {key!r}; the deployment has {', '.join(sorted(current_keys))}."]
    clean: dict[str, dict] = {}
    if known:
        try:
            clean = scale_request_shape(known)
        except ValidationError as exc:
            errors.update(exc.errors)
    for key, value in known.items():
        resources = value.get("resources") if isinstance(value, dict) else None
        path = f"scale.{key}.resources"
        checked = isinstance(resources, dict) and not {f"scale.{key}", path} & errors.keys()
        if checked and "gpu_type" in resources and resources["gpu_type"] not in gpu_types:
            known_types = ", ".join(sorted(gpu_types)) or "none"
            errors[f"{path}.gpu_type"] = [f"Unknown GPU type; the cluster has {known_types}."]
    if errors:
        raise ValidationError(errors)
    return clean
