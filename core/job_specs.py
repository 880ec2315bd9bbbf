"""A job's spec, in one place: its shape (`SPEC_SCHEMA`, which `jobs.validation.validate_spec` checks every
submitted spec against) and the functions that build one. A template's component resolves to `job_spec`; a
change of server configuration (sizing, placement) goes through `with_config`; the reconciler, once it has
rendered a component's inputs from its upstream outputs, hands them to `with_inputs`.

Pure and at the ground layer: templates (which build specs), deployments (which render them) and jobs (which
validate and run them) share it without importing each other.
"""

from __future__ import annotations

import copy
import json
from typing import Any

_env = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
_port = {"type": "integer", "minimum": 1, "maximum": 65535}
_storage = {
    "type": "object",
    "required": ["size"],
    "properties": {"size": {"type": "string", "minLength": 1}, "mount_path": {"type": "string", "pattern": "^/"}},
}
_common = {
    "port": _port,
    "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
    "storage": _storage,
}
SPEC_SCHEMA = {
    "type": "object",
    "required": ["kind"],
    "properties": {"kind": {"enum": ["helm", "docker", "model"]}},
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "helm"}}},
            "then": {
                "required": ["repo", "chart"],
                "properties": {
                    **_common,
                    "repo": {"type": "string", "minLength": 1},
                    "chart": {"type": "string", "minLength": 1},
                    "version": {"type": "string"},
                    "values": {"type": "object"},
                },
            },
        },
        {
            "if": {"properties": {"kind": {"const": "docker"}}},
            "then": {
                "required": ["image"],
                "properties": {
                    **_common,
                    "image": {"type": "string", "minLength": 1},
                    "tag": {"type": "string"},
                    "env": _env,
                    "args": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        {
            "if": {"properties": {"kind": {"const": "model"}}},
            "then": {
                "required": ["model_id"],
                "properties": {
                    **_common,
                    "model_id": {"type": "string", "minLength": 1},
                    "image": {"type": "string"},
                    "tag": {"type": "string"},
                    "env": _env,
                    "args": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    ],
}


def job_spec(
    *,
    deployment_type: str,
    config: dict,
    env: dict,
    model_id: str | None = None,
    image: str = "",
    image_tag: str = "",
    port: int | None = None,
    health_check_path: str = "",
    helm_repo: str = "",
    helm_chart: str = "",
    helm_version: str = "",
) -> dict[str, Any]:
    """The spec of a component's job by its deployment type (HELM, MODEL or a container): a chart with `config`
    as its values, a model server whose `config` becomes its flags, or an image with its environment."""
    health = health_check_path or ""
    if deployment_type == "HELM":
        return {
            "kind": "helm",
            "repo": helm_repo,
            "chart": helm_chart,
            "version": helm_version,
            "values": config,
            "port": port,
            "health_check_path": health,
        }
    if deployment_type == "MODEL":
        return {
            "kind": "model",
            "model_id": model_id,
            "image": f"{image}:{image_tag}" if image_tag else image,
            "port": port,
            "env": env,
            # A model server's config becomes its command-line flags (max_model_len -> --max-model-len=8192),
            # the list of container arguments the job layer expects; the mapping stays readable in `config`.
            "args": cli_flags(config),
            "config": config,
            "health_check_path": health,
            **storage_of(config),
        }
    spec = {
        "kind": "docker",
        "image": image,
        "tag": image_tag,
        "env": env,
        "port": port,
        "health_check_path": health,
        **storage_of(config),
    }
    if config.get("args"):
        # Container arguments (e.g. the command an MCP gateway wraps); only when given, so the specs of the
        # components that take none stay as they were and running deployments see no change.
        spec["args"] = [str(arg) for arg in config["args"]]
    return spec


def with_config(spec: dict, config: dict) -> dict:
    """The spec with another server configuration: a model server's flags follow it, as they do when resolved."""
    spec = copy.deepcopy(spec)
    if spec.get("kind") == "model":
        spec["config"] = copy.deepcopy(config)
        spec["args"] = cli_flags(config)
    return spec


def with_inputs(spec: dict, *, env: dict) -> dict:
    """The spec a job is submitted with, once its inputs are rendered: the rendered environment, when there is
    one, is the container's (a chart's too, so the job shows what it was given)."""
    if env:
        return {**spec, "env": env}
    return spec


def cli_flags(config: dict) -> list[str]:
    """A configuration as command-line flags: `max_model_len: 8192` -> `--max-model-len=8192`, `true` -> a bare flag,
    false and null left out, objects and lists as compact JSON."""
    flags = []
    for key, value in config.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (dict, list)):
            flags.append(f"{flag}={json.dumps(value, separators=(',', ':'))}")
        else:
            flags.append(f"{flag}={value}")
    return flags


def storage_of(config: dict) -> dict:
    """{"storage": {"size", "mount_path"}} when the configuration asks for persistent storage (the catalog's
    `persistence.size` / `storage.size`), so a driver can give the container a volume; {} otherwise."""
    for key in ("persistence", "storage"):
        section = config.get(key)
        if isinstance(section, dict) and section.get("size") and section.get("enabled", True) is not False:
            storage = {"size": str(section["size"])}
            if section.get("mount_path"):
                storage["mount_path"] = str(section["mount_path"])
            return {"storage": storage}
    return {}
