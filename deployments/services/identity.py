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
    name, number = base, 2
    while name_taken(cluster=cluster, name=name):
        name, number = f"{base}-{number}", number + 1
    return name


def request_fingerprint(*, user, operation: str, request: dict) -> str:
    """SHA-256 of who asked for what: the key of a retry must come with the same user, operation and body."""
    payload = {"user": getattr(user, "pk", None), "operation": operation, "request": request}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
