"""Writes of clusters: register, change and delete them (a tenant's admins only)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from audit.services import audit_record, snapshot
from core.exceptions import Conflict, ValidationError
from jobs.models import Cluster, Job
from jobs.scheduling import Capacity
from jobs.services.connections import check_connection_fields
from jobs.services.passes import cluster_schedule_pass, lock_cluster
from jobs.services.sets import cluster_set_replace_waiting
from jobs.signals import cluster_went_away
from jobs.validation import validate_cluster_settings
from tenancy.selectors import require_admin

logger = logging.getLogger(__name__)

# Prices have a history (billing's price lists, with effective dates): a change goes there, never over the cluster.
PRICES_CHANGE = (
    "A cluster's prices change with an effective date: POST /api/v1/price-lists "
    '{"cluster_id", "prices", "effective_from"}; usage before that moment keeps the older prices.'
)
AUDITED_FIELDS = ["name", "driver", "status", "inventory", "prices", "simulation"]
DEFAULT_SIMULATION = {"startup_seconds": {"default": 5}, "failure_rate": 0.0, "seed": 0}
AVAILABLE_DRIVERS = {Cluster.Driver.SIMULATED, Cluster.Driver.KUBERNETES}
EMPTY_INVENTORY = {"gpus": {}, "cpu_cores": 0, "memory_gib": 0}


def _check_cluster_fields(*, driver: str, inventory, prices, simulation, kubernetes=None, kubeconfig="") -> None:
    if driver not in AVAILABLE_DRIVERS:
        raise ValidationError({"driver": f"The {driver!r} driver is not available; use 'simulated' or 'kubernetes'."})
    validate_cluster_settings(inventory=inventory, prices=prices, simulation=simulation, kubernetes=kubernetes)
    if driver == Cluster.Driver.KUBERNETES:
        check_connection_fields(kubernetes=kubernetes or {}, kubeconfig=kubeconfig or "")


def _check_inventory_holds(*, cluster: Cluster, inventory: dict) -> None:
    # Admitted jobs keep what they hold whatever the inventory says: a smaller one would show negative free capacity.
    held = (
        Job.objects.filter(cluster=cluster, admitted_at__isnull=False, status__in=Job.Status.ACTIVE)
        .values("queue_key")
        .annotate(gpus=Sum("demand_gpus"), millicores=Sum("demand_millicores"), memory_mib=Sum("demand_memory_mib"))
        .order_by("queue_key")
    )
    total = Capacity.from_inventory(inventory)
    short: list[str] = []
    millicores = memory_mib = 0
    for row in held:
        millicores += row["millicores"]
        memory_mib += row["memory_mib"]
        have = total.gpus.get(row["queue_key"], 0)
        if row["gpus"] and row["gpus"] > have:
            short.append(f"{row['gpus']} x {row['queue_key']} (the new inventory has {have})")
    if millicores > total.millicores:
        short.append(f"{millicores / 1000:g} CPU cores (the new inventory has {total.millicores / 1000:g})")
    if memory_mib > total.memory_mib:
        short.append(f"{memory_mib / 1024:g} GiB of memory (the new inventory has {total.memory_mib / 1024:g})")
    if short:
        message = (
            f"Running and admitted jobs hold {'; '.join(short)}: cancel them or let them finish before shrinking "
            "the inventory below that."
        )
        raise Conflict(message, errors={"inventory": [message]})


def cluster_validate(
    *, cluster: Cluster | None, driver: str, inventory, prices, simulation, kubernetes=None, kubeconfig=None
) -> None:
    """The checks a cluster's settings pass in the API and the admin alike: an available driver, well-formed
    inventory, prices and simulation, usable credentials for a Kubernetes cluster, and (for an existing cluster) no
    less inventory than its jobs hold."""
    if cluster is not None:
        kubernetes = cluster.kubernetes if kubernetes is None else kubernetes
        kubeconfig = cluster.kubeconfig if kubeconfig is None else kubeconfig
    _check_cluster_fields(
        driver=driver,
        inventory=inventory,
        prices=prices,
        simulation=simulation,
        kubernetes=kubernetes,
        kubeconfig=kubeconfig,
    )
    if cluster is not None and cluster.pk is not None:
        _check_inventory_holds(cluster=cluster, inventory=inventory)


def cluster_create(
    *,
    tenant,
    name: str,
    inventory: dict | None = None,
    prices: dict | None = None,
    simulation: dict | None = None,
    driver: str = Cluster.Driver.SIMULATED,
    status: str = Cluster.Status.ACTIVE,
    kubeconfig: str = "",
    kubernetes: dict | None = None,
    user=None,
) -> Cluster:
    """Register a cluster in a tenant (its admins; `user=None` for start-up code). A Kubernetes cluster's
    inventory may be left out: the connection check reads it from the nodes."""
    require_admin(user, tenant.pk, manages="manage clusters")
    if inventory is None:
        if driver != Cluster.Driver.KUBERNETES:
            raise ValidationError({"inventory": "Required for a simulated cluster."})
        inventory = dict(EMPTY_INVENTORY)
    settings = {
        "driver": driver,
        "inventory": inventory,
        "prices": prices if prices is not None else {},
        "simulation": simulation if simulation is not None else dict(DEFAULT_SIMULATION),
        "kubernetes": kubernetes if kubernetes is not None else {},
    }
    cluster_validate(cluster=None, kubeconfig=kubeconfig, **settings)
    try:
        with transaction.atomic():
            cluster = Cluster.objects.create(
                tenant=tenant, name=name, status=status, kubeconfig=kubeconfig or None, **settings
            )
            audit_record(action="create", obj=cluster, after=snapshot(cluster, AUDITED_FIELDS))
            return cluster
    except IntegrityError:
        raise ValidationError({"name": "A cluster with this name already exists in the tenant."}) from None


def cluster_update(*, cluster: Cluster, user=None, **fields: Any) -> Cluster:
    """Change a cluster's name, status, inventory or simulation settings, then run a pass (prices: PRICES_CHANGE)."""
    require_admin(user, cluster.tenant_id, manages="manage clusters")
    allowed = {"name", "status", "inventory", "prices", "simulation", "driver", "kubeconfig", "kubernetes"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({key: "This field cannot be changed." for key in sorted(unknown)})
    if "prices" in fields and fields["prices"] != cluster.prices:
        raise ValidationError({"prices": PRICES_CHANGE})
    if "kubeconfig" in fields:
        fields["kubeconfig"] = fields["kubeconfig"] or None
    settings_fields = ("driver", "inventory", "prices", "simulation", "kubernetes", "kubeconfig")
    merged = {key: fields.get(key, getattr(cluster, key)) for key in settings_fields}
    _check_cluster_fields(**merged)
    try:
        with transaction.atomic():
            # Under the cluster's lock no pass admits a job between the check of what jobs hold and the save.
            lock_cluster(cluster.pk)
            if "inventory" in fields:
                _check_inventory_holds(cluster=cluster, inventory=fields["inventory"])
            before = snapshot(cluster, AUDITED_FIELDS)
            was_active = cluster.status == Cluster.Status.ACTIVE
            for key, value in fields.items():
                setattr(cluster, key, value)
            cluster.save()
            audit_record(action="update", obj=cluster, before=before, after=snapshot(cluster, AUDITED_FIELDS))
    except IntegrityError:
        raise ValidationError({"name": "A cluster with this name already exists in the tenant."}) from None
    # More capacity or a re-activated cluster admits waiting jobs; less capacity fails jobs that can never fit.
    cluster_schedule_pass(cluster=cluster)
    if was_active and cluster.status != Cluster.Status.ACTIVE:
        cluster_set_replace_waiting(cluster=cluster)  # its sets take back what waits there
        for receiver, error in cluster_went_away.send_robust(sender=Cluster, cluster=cluster):
            if isinstance(error, Exception):  # the status change stands; the mover's failure is logged
                logger.error("%s failed after cluster %s went away", receiver, cluster.pk, exc_info=error)
    return cluster


def cluster_delete(*, cluster: Cluster, user=None) -> None:
    """Delete a cluster that never ran a job (jobs keep their history, so a cluster with jobs stays)."""
    require_admin(user, cluster.tenant_id, manages="manage clusters")
    if cluster.jobs.exists():
        raise Conflict("The cluster has jobs; set its status to OFFLINE instead of deleting it.")
    with transaction.atomic():
        audit_record(action="delete", obj=cluster, before=snapshot(cluster, AUDITED_FIELDS))
        cluster.delete()
