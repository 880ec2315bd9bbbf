"""Start-up data: a simulated cluster "sim-local" for the demo tenant."""

from __future__ import annotations

from jobs import services
from jobs.models import Cluster
from tenancy.bootstrap import DEMO_TENANT
from tenancy.models import Tenant

CLUSTER_NAME = "sim-local"
INVENTORY = {"gpus": {"H100-80GB": 8, "A100-80GB": 16, "L4": 8}, "cpu_cores": 256, "memory_gib": 2048}
# On-demand list prices of the order public clouds charge (USD per hour).
PRICES = {
    "gpu_hour": {"H100-80GB": 2.99, "A100-80GB": 1.79, "L4": 0.8},
    "cpu_hour": 0.02,
    "memory_gib_hour": 0.003,
}
SIMULATION = {"startup_seconds": {"default": 2}, "failure_rate": 0.0, "seed": 0}


def bootstrap(*, stdout) -> dict:
    tenant = Tenant.objects.filter(name=DEMO_TENANT).first()
    if tenant is None:
        return {}
    cluster = Cluster.objects.filter(tenant=tenant, name=CLUSTER_NAME).first()
    if cluster is None:
        cluster = services.cluster_create(
            tenant=tenant, name=CLUSTER_NAME, inventory=INVENTORY, prices=PRICES, simulation=SIMULATION
        )
    stdout.write(f"jobs: simulated cluster {cluster.name!r} ({cluster.pk})")
    return {"cluster_id": str(cluster.pk)}
