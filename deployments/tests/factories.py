"""Fixtures data for deployment tests: simulated clusters and seeded system templates."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from jobs.models import Cluster

INVENTORY = {"gpus": {"H100-80GB": 8, "A100-80GB": 16, "L4": 8}, "cpu_cores": 512, "memory_gib": 4096}
PRICES = {"gpu_hour": {"H100-80GB": 2.5, "A100-80GB": 1.8, "L4": 0.6}, "cpu_hour": 0.02, "memory_gib_hour": 0.003}


def make_cluster(*, tenant, name: str = "sim", startup: float = 0, failure_rate: float = 0.0, **inventory) -> Cluster:
    return Cluster.objects.create(
        tenant=tenant,
        name=name,
        driver="simulated",
        inventory={**INVENTORY, **inventory},
        prices=PRICES,
        simulation={"startup_seconds": {"default": startup}, "failure_rate": failure_rate, "seed": 7},
    )


def seed_system_templates() -> None:
    call_command("seed_templates", stdout=StringIO(), stderr=StringIO())


SIMPLE_RAG_PARAMS = {"model_id": "meta-llama/Llama-3.1-8B-Instruct"}
