"""What identifies a deployment request: its name (part of every component's address on the cluster) and the
fingerprint an Idempotency-Key is bound to."""

from __future__ import annotations

import hashlib
import json
import re

from django.utils import timezone

from core.exceptions import ValidationError
from deployments.models import UseCaseDeployment
from deployments.state import DeploymentStatus

NAME_MAX_LENGTH = 40  # a job's host is "<name>-<component key>[-g<n>][-r<n>]", one 63-character DNS label
NAME_RE = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{NAME_MAX_LENGTH - 2}}}[a-z0-9])?$")
NAME_RULE = (
    f"Use lower-case letters, digits and dashes, starting and ending with a letter or a digit, at most "
    f"{NAME_MAX_LENGTH} characters: the name becomes part of each component's address."
)


def _suggestion(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:NAME_MAX_LENGTH].strip("-")


def name_taken(*, cluster, name: str) -> bool:
    live = UseCaseDeployment.objects.filter(cluster=cluster, name=name)
    return live.exclude(status=DeploymentStatus.DELETED).exists()


def deployment_name_check(*, cluster, name: str) -> None:
    """A name the user chose is used as given, or refused with the reason: never changed silently."""
    if not NAME_RE.match(name):
        suggestion = _suggestion(name)
        hint = f" For example {suggestion!r}." if suggestion and suggestion != name else ""
        raise ValidationError({"name": [NAME_RULE + hint]})
    if name_taken(cluster=cluster, name=name):
        raise ValidationError(
            {
                "name": [
                    f"A deployment named {name!r} already runs on cluster {cluster.name}; its components would "
                    "have the same addresses. Choose another name."
                ]
            }
        )


def deployment_name_generate(*, cluster, template_id: str) -> str:
    """<template>-<timestamp>, with -2, -3, ... when that is taken on the cluster (two deploys in one second)."""
    base = f"{_suggestion(template_id)[:22].strip('-') or 'deployment'}-{timezone.now():%Y%m%d-%H%M%S}"
    # The live names of this second in one query, not one query per suffix tried (ten deploys in a second asked ten).
    live = UseCaseDeployment.objects.filter(cluster=cluster, name__startswith=base)
    taken = set(live.exclude(status=DeploymentStatus.DELETED).order_by().values_list("name", flat=True))
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name


def request_fingerprint(*, user, operation: str, request: dict) -> str:
    """SHA-256 of who asked for what: the key of a retry must come with the same user, operation and body."""
    payload = {"user": getattr(user, "pk", None), "operation": operation, "request": request}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


PARAMETER_REF = re.compile(r"parameters\.([A-Za-z_][A-Za-z0-9_]*)")
GPU_TYPE_PATH = re.compile(r"^components\.(\d+)\.resources\.gpu_type$")


def gpu_type_errors_on_parameters(error: ValidationError, *, template, plan) -> ValidationError:
    """The same error with each component's GPU-type problem moved to the parameter that chose the type
    (`parameters.gpu_type`, where a form shows it); a type the template fixes stays on its component."""
    raw = {
        c.get("id"): str(c.get("gpu_type") or (c.get("resources") or {}).get("gpu_type") or "")
        for c in template.components or ()
    }
    moved: dict[str, list[str]] = {}
    for path, messages in error.errors.items():
        match = GPU_TYPE_PATH.match(path)
        index = int(match.group(1)) if match else -1
        source = (
            PARAMETER_REF.search(raw.get(plan.components[index].key, "")) if 0 <= index < len(plan.components) else None
        )
        target = f"parameters.{source.group(1)}" if source else path
        moved.setdefault(target, []).extend(m for m in messages if m not in moved.get(target, []))
    return ValidationError(moved, detail=error.detail)
