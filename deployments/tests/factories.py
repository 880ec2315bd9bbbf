"""Factories for deployment tests (and the console's): simulated clusters, seeded system templates, deployments."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import time_machine
import yaml
from django.conf import settings
from django.core.management import call_command

from deployments import reconciler, services
from deployments.models import UseCaseDeployment
from jobs.models import Cluster
from jobs.tests.factories import ClusterFactory
from templates_app.selectors import template_get_for_user

INVENTORY = {"gpus": {"H100-80GB": 8, "A100-80GB": 16, "L4": 8}, "cpu_cores": 512, "memory_gib": 4096}
PRICES = {"gpu_hour": {"H100-80GB": 2.5, "A100-80GB": 1.8, "L4": 0.6}, "cpu_hour": 0.02, "memory_gib_hour": 0.003}


def make_cluster(*, tenant, name: str = "sim", startup: float = 0, failure_rate: float = 0.0, **inventory) -> Cluster:
    """The job layer's ClusterFactory with room for every system template (L4s and more A100s), zero start-up by
    default so a stack comes up in one reconcile pass."""
    return ClusterFactory(
        tenant=tenant,
        name=name,
        inventory={**INVENTORY, **inventory},
        prices=PRICES,
        simulation={"startup_seconds": {"default": startup}, "failure_rate": failure_rate, "seed": 7},
    )


def deploy(
    *, user, project, cluster, template_id: str = "simple-rag-v1", name: str = "", run: bool = False
) -> UseCaseDeployment:
    """A deployment of a system template made through the service the API, the CLI and the wizard call;
    `run=True` reconciles it once (RUNNING on a zero start-up cluster)."""
    template = template_get_for_user(user=user, template_id=template_id)
    deployment, _ = services.deployment_create(
        user=user, template=template, project=project, cluster=cluster, parameters=dict(SIMPLE_RAG_PARAMS), name=name
    )
    if run:
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        deployment.refresh_from_db()
    return deployment


def bring_up_on_slow_cluster(deployment_id, start: datetime) -> None:
    """Reconcile a simple-rag-v1 deployment on a cluster with 5 s start-ups (the `slow_cluster` fixture) at 0, 6
    and 12 s after `start`: one pass per wave of its start order, RUNNING after the third."""
    for seconds in (0, 6, 12):
        with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
            reconciler.deployment_reconcile(deployment_id=deployment_id)


def seed_system_templates() -> None:
    call_command("seed_templates", stdout=StringIO(), stderr=StringIO())


def seed_system_template_version(tmp_path: Path, template_path: str, change: Callable[[dict], None]) -> dict:
    """Publish a new version of a system template as `seed_templates` would after a YAML change in git.

    Copies system_templates/ under `tmp_path`, lets `change` edit the template's YAML content (at
    `templates/<category>/<id>.yaml`) in place, and seeds from the copy. Returns the new content.
    """
    target = tmp_path / "system_templates"
    shutil.copytree(Path(settings.BASE_DIR) / "system_templates", target)
    path = target / template_path
    content = yaml.safe_load(path.read_text())
    change(content)
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    call_command("seed_templates", "--path", str(target), stdout=StringIO(), stderr=StringIO())
    return content


SIMPLE_RAG_PARAMS = {"model_id": "meta-llama/Llama-3.1-8B-Instruct"}
