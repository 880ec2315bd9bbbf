"""A Kubernetes cluster's connection: the checks on its credentials when they are stored, and the connection check
that reads the inventory from the nodes (`POST /api/v1/clusters/{id}/check`)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.exceptions import ValidationError
from jobs.drivers.kubernetes.connection import ClusterUnavailable, api_client, kubeconfig_problem, read_inventory
from jobs.models import Cluster
from tenancy.selectors import require_admin

MAX_KUBECONFIG_BYTES = 256 * 1024


def check_connection_fields(*, kubernetes: dict, kubeconfig: str) -> None:
    """A Kubernetes cluster has usable credentials: a kubeconfig, or in-cluster credentials (not both)."""
    in_cluster = bool(kubernetes.get("in_cluster"))
    if in_cluster and kubeconfig:
        raise ValidationError({"kubeconfig": "Leave it empty when the cluster uses in-cluster credentials."})
    if not in_cluster and not kubeconfig:
        raise ValidationError(
            {
                "kubeconfig": "A Kubernetes cluster needs a kubeconfig, or kubernetes.in_cluster=true when the product "
                "runs inside that cluster."
            }
        )
    if kubeconfig:
        if len(kubeconfig.encode()) > MAX_KUBECONFIG_BYTES:
            raise ValidationError({"kubeconfig": f"At most {MAX_KUBECONFIG_BYTES // 1024} KiB."})
        problem = kubeconfig_problem(kubeconfig)
        if problem:
            raise ValidationError({"kubeconfig": problem})


def cluster_check(*, cluster: Cluster, user) -> dict:
    """Connect, read the inventory from the nodes and store it on the cluster (tenant admins).

    Returns {"ok", "driver", "server", "inventory", "nodes", "reason", "message", "checked_at"}; a cluster that
    cannot be used is `ok: false` with `reason` unreachable, unauthorised, forbidden, misconfigured or no_gpu_nodes.
    """
    require_admin(user, cluster.tenant_id, manages="check clusters")
    now = timezone.now()
    result = {
        "ok": True,
        "driver": cluster.driver,
        "server": None,
        "inventory": cluster.inventory,
        "nodes": [],
        "reason": "",
        "message": "",
        "checked_at": now,
    }
    if cluster.driver != Cluster.Driver.KUBERNETES:
        result["message"] = "A simulated cluster: its inventory is the one it was given."
        return result
    try:
        result["server"] = api_client(cluster).configuration.host
        read = read_inventory(cluster)
    except ClusterUnavailable as exc:
        return {**result, "ok": False, "reason": exc.reason, "message": exc.detail, "inventory": cluster.inventory}
    nodes = read.pop("nodes")
    with transaction.atomic():
        Cluster.objects.select_for_update().filter(pk=cluster.pk).update(inventory=read, updated_at=now)
    cluster.inventory = read
    gpus = ", ".join(f"{count} x {gpu_type}" for gpu_type, count in read["gpus"].items())
    message = f"Connected; {len(nodes)} ready nodes with {gpus}."
    return {**result, "inventory": read, "nodes": nodes, "message": message}
