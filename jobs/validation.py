"""Checks on what a client sends before anything runs: cluster settings, job resources, job specs, priorities.

Every function raises core.exceptions.ValidationError with field paths ("resources.gpu_type",
"spec.values.server.hostNetwork") or returns the normalised value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator

from core.exceptions import ValidationError
from core.job_specs import SPEC_SCHEMA
from jobs.scheduling import PRIORITY_NAMES

# Beyond these a request is a typo, not a workload (per replica, except replicas).
MAX_GPU_COUNT = 64
MAX_CPU = 4096
MAX_MEMORY_GIB = 65536
MAX_REPLICAS = 1000  # the one replica limit: of a job (API, admin, resize) and of a deployment's scale
MAX_PRIORITY = 1000
MAX_DURATION_SECONDS = 365 * 24 * 3600

_number = {"type": "number", "minimum": 0}
_name = {"type": "string", "minLength": 1, "maxLength": 100}

INVENTORY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["gpus", "cpu_cores", "memory_gib"],
    "properties": {
        "gpus": {
            "type": "object",
            "propertyNames": {"minLength": 1, "maxLength": 100},
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100000},
        },
        "cpu_cores": {"type": "number", "minimum": 0, "maximum": 10_000_000},
        "memory_gib": {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
    },
}
PRICES_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "gpu_hour": {"type": "object", "additionalProperties": _number},
        "cpu_hour": _number,
        "memory_gib_hour": _number,
    },
}
SIMULATION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "startup_seconds": {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 86400},
        },
        "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "seed": {"type": ["integer", "string"]},
    },
}

_label_key = {"type": "string", "minLength": 1, "maxLength": 316, "pattern": r"^[A-Za-z0-9./_-]+$"}
KUBERNETES_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "in_cluster": {"type": "boolean"},
        "gpu_resource": {"enum": ["nvidia.com/gpu", "amd.com/gpu"]},
        "gpu_label": _label_key,
        "gpu_products": {
            "type": "object",
            "propertyNames": {"minLength": 1, "maxLength": 63},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 100},
        },
        "storage_class": {"type": ["string", "null"], "maxLength": 253},
    },
}

UNSAFE_KEYS = ("hostNetwork", "hostPID", "hostIPC", "privileged")
_REMOTE_CHART = re.compile(r"(https|oci)://\S+")
_CHART_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,98}[a-z0-9])?")


_VALIDATORS: dict[int, tuple] = {}


def _schema_errors(schema: dict, value: Any, prefix: str) -> dict[str, list[str]]:
    # Validators are built once per schema: building one costs more than validating a document. A valid document
    # (nearly every one) is recognised by the compiled Rust validator in about a microsecond; only an invalid one
    # goes through jsonschema's, 100 times slower, for its messages and paths (the ones the API has always given).
    validators = _VALIDATORS.get(id(schema))
    if validators is None:
        validators = _VALIDATORS[id(schema)] = (
            jsonschema_rs.Draft202012Validator(schema),
            Draft202012Validator(schema),
        )
    fast, validator = validators
    try:
        if fast.is_valid(value):
            return {}
    except (ValueError, TypeError, OverflowError):  # a value JSON has no type for (a tuple, a Decimal): the slow way
        pass
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(value):
        path = ".".join([prefix, *(str(p) for p in error.absolute_path)])
        errors.setdefault(path, []).append(error.message)
    return errors


def validate_cluster_settings(*, inventory: Any, prices: Any, simulation: Any, kubernetes: Any = None) -> None:
    errors = {
        **_schema_errors(INVENTORY_SCHEMA, inventory, "inventory"),
        **_schema_errors(PRICES_SCHEMA, prices, "prices"),
        **_schema_errors(SIMULATION_SCHEMA, simulation, "simulation"),
        **_schema_errors(KUBERNETES_SCHEMA, kubernetes or {}, "kubernetes"),
    }
    if not errors and isinstance(prices.get("gpu_hour"), Mapping):
        for gpu_type in prices["gpu_hour"]:
            if gpu_type not in inventory["gpus"]:
                errors[f"prices.gpu_hour.{gpu_type}"] = [f"{gpu_type!r} is not in the inventory."]
    if errors:
        raise ValidationError(errors)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def normalise_resources(resources: Any, *, inventory: Mapping[str, Any]) -> dict:
    """Fill defaults and check a job's resources against hard limits and the cluster's GPU types."""
    if not isinstance(resources, Mapping):
        raise ValidationError({"resources": "Must be an object."})
    known = {"gpu_type", "gpu_count", "cpu", "memory_gib", "replicas"}
    errors: dict[str, list[str]] = {f"resources.{k}": ["Unknown field."] for k in resources if k not in known}
    out = {
        "gpu_type": resources.get("gpu_type"),
        "gpu_count": resources.get("gpu_count", 0),
        "cpu": resources.get("cpu", 1),
        "memory_gib": resources.get("memory_gib", 1),
        "replicas": resources.get("replicas", 1),
    }

    def check(name: str, ok: bool, message: str) -> None:
        if not ok:
            errors.setdefault(f"resources.{name}", []).append(message)

    check("gpu_count", _is_int(out["gpu_count"]), "Must be an integer.")
    check("replicas", _is_int(out["replicas"]), "Must be an integer.")
    check("cpu", _is_number(out["cpu"]), "Must be a number.")
    check("memory_gib", _is_number(out["memory_gib"]), "Must be a number.")
    if not errors:
        check("gpu_count", 0 <= out["gpu_count"] <= MAX_GPU_COUNT, f"Must be between 0 and {MAX_GPU_COUNT}.")
        check("replicas", 1 <= out["replicas"] <= MAX_REPLICAS, f"Must be between 1 and {MAX_REPLICAS}.")
        check("cpu", 0 <= out["cpu"] <= MAX_CPU, f"Must be between 0 and {MAX_CPU}.")
        check("memory_gib", 0 <= out["memory_gib"] <= MAX_MEMORY_GIB, f"Must be between 0 and {MAX_MEMORY_GIB}.")
    gpu_type = out["gpu_type"]
    if not errors:
        gpu_types = sorted((inventory.get("gpus") or {}).keys())
        if gpu_type not in (None, "") and not isinstance(gpu_type, str):
            check("gpu_type", False, "Must be a string.")
        elif out["gpu_count"] > 0 and not gpu_type:
            check("gpu_type", False, "Required when gpu_count is above 0.")
        elif gpu_type and gpu_type not in gpu_types:
            # Even with no GPUs asked for: a misspelt type is a mistake to report, not a field to drop silently.
            known_types = ", ".join(gpu_types) or "none"
            check("gpu_type", False, f"Unknown GPU type {gpu_type!r}; this cluster has: {known_types}.")
    if not errors and out["gpu_count"] == 0 and out["cpu"] == 0 and out["memory_gib"] == 0:
        errors["resources"] = ["Ask for at least some CPU, memory or GPUs."]
    if errors:
        raise ValidationError(errors)
    if out["gpu_count"] == 0:
        out["gpu_type"] = None
    return out


def unsafe_message(key: str) -> str:
    return f"{key} is not allowed: workloads may not use host namespaces or run privileged."


def unsafe_paths(value: Any, path: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            sub = f"{path}.{key}"
            if key in UNSAFE_KEYS and item not in (False, None, "false", "False", 0):
                found.append((sub, key))
            found.extend(unsafe_paths(item, sub))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(unsafe_paths(item, f"{path}.{index}"))
    return found


def validate_spec(spec: Any) -> dict:
    """Shape by kind, then safety: no host namespaces or privileged containers, charts only from https/oci."""
    if not isinstance(spec, Mapping):
        raise ValidationError({"spec": "Must be an object."})
    errors = _schema_errors(SPEC_SCHEMA, spec, "spec")
    for path, key in unsafe_paths(spec, "spec"):
        errors.setdefault(path, []).append(unsafe_message(key))
    repo, chart = spec.get("repo"), spec.get("chart")
    if spec.get("kind") == "helm" and isinstance(repo, str) and not _REMOTE_CHART.fullmatch(repo):
        errors.setdefault("spec.repo", []).append("Charts must come from an https:// or oci:// repository.")
    # Helm installs a chart argument that looks like a path from the local disk and fetches any URL it is given.
    bad_chart = (
        isinstance(chart, str) and chart and not (_CHART_NAME.fullmatch(chart) or _REMOTE_CHART.fullmatch(chart))
    )
    if spec.get("kind") == "helm" and bad_chart:
        errors.setdefault("spec.chart", []).append(
            "Must be a chart name in the repository (lower-case letters, digits and dashes) or an https:// or "
            "oci:// chart URL; local paths and other schemes are refused."
        )
    if errors:
        raise ValidationError(errors)
    return dict(spec)


def parse_priority(value: Any, *, field: str = "priority") -> int:
    """An integer 0..1000 or one of LOW (0), NORMAL (50), HIGH (75), CRITICAL (100)."""
    if isinstance(value, str):
        name = value.strip().upper()
        if name in PRIORITY_NAMES:
            return PRIORITY_NAMES[name]
        if re.fullmatch(r"-?\d+", name):
            value = int(name)
    if not _is_int(value) or not 0 <= value <= MAX_PRIORITY:
        names = ", ".join(PRIORITY_NAMES)
        raise ValidationError({field: f"Must be an integer from 0 to {MAX_PRIORITY} or one of {names}."})
    return value


def validate_labels(labels: Any) -> dict:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise ValidationError({"labels": "Must be an object of string values."})
    errors = {}
    if len(labels) > 64:
        errors["labels"] = ["At most 64 labels."]
    for key, value in labels.items():
        if not isinstance(key, str) or not 0 < len(key) <= 253:
            errors[f"labels.{key}"] = ["Keys are 1 to 253 characters."]
        elif not isinstance(value, str) or len(value) > 1000:
            errors[f"labels.{key}"] = ["Values are strings of at most 1000 characters."]
    if errors:
        raise ValidationError(errors)
    return dict(labels)


def validate_duration(job_type: str, duration_seconds: Any) -> float | None:
    if job_type == "SERVICE":
        if duration_seconds is not None:
            raise ValidationError({"duration_seconds": "Only BATCH and TRAINING jobs have a duration."})
        return None
    if duration_seconds is None:
        raise ValidationError({"duration_seconds": f"Required for {job_type} jobs."})
    if not _is_number(duration_seconds) or not 0 <= duration_seconds <= MAX_DURATION_SECONDS:
        raise ValidationError({"duration_seconds": f"Must be a number from 0 to {MAX_DURATION_SECONDS}."})
    return float(duration_seconds)


MAX_CHECKPOINT_INTERVAL_MINUTES = 7 * 24 * 60


def validate_checkpoint_interval(job_type: str, minutes: Any) -> float | None:
    """Minutes between checkpoints of a BATCH/TRAINING job (None: it does not checkpoint)."""
    if minutes is None:
        return None
    if job_type == "SERVICE":
        raise ValidationError({"checkpoint_interval_minutes": "Only BATCH and TRAINING jobs checkpoint."})
    if not _is_number(minutes) or not 0 < minutes <= MAX_CHECKPOINT_INTERVAL_MINUTES:
        raise ValidationError(
            {"checkpoint_interval_minutes": f"Must be a number above 0 and at most {MAX_CHECKPOINT_INTERVAL_MINUTES}."}
        )
    return float(minutes)


def dns_label(value: str, *, fallback: str) -> str:
    """A Kubernetes-safe DNS label (lower case, digits, dashes, at most 63 characters)."""
    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63].strip("-")
    return label or fallback
