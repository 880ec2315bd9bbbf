"""Writes of the billing app: price changes with an effective moment."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from billing.models import PriceList
from core.exceptions import PermissionDenied, ValidationError
from jobs.models import Cluster
from jobs.validation import validate_cluster_settings
from tenancy.selectors import user_is_tenant_admin

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


@transaction.atomic
def price_list_create(
    *, user: AbstractBaseUser | None, cluster: Cluster, prices: dict, effective_from: datetime
) -> PriceList:
    """Change a cluster's prices from `effective_from` (a whole minute); minutes before it keep the older prices.

    A change already in effect also becomes the cluster's current prices, which new jobs' hourly rates use.
    This is the one way to change a cluster's prices (the clusters API refuses `prices` on a change).
    """
    if user is not None and not user_is_tenant_admin(user, cluster.tenant_id):
        raise PermissionDenied("Only the tenant's admins change a cluster's prices.")
    validate_cluster_settings(inventory=cluster.inventory, prices=prices, simulation=cluster.simulation or {})
    if effective_from.second or effective_from.microsecond:
        raise ValidationError({"effective_from": "A price change takes effect on a whole minute (seconds zero)."})
    if PriceList.objects.filter(cluster=cluster, effective_from=effective_from).exists():
        raise ValidationError({"effective_from": "This cluster already has a price change at that moment."})
    if not PriceList.objects.filter(cluster=cluster).exists():
        # The first change starts the history: the prices until now become the list in effect since the beginning.
        PriceList.objects.create(
            cluster=cluster, prices=cluster.prices or {}, effective_from=BEGINNING, created_by=user
        )
    price_list = PriceList.objects.create(
        cluster=cluster, prices=prices, effective_from=effective_from, created_by=user
    )
    if effective_from <= timezone.now():
        Cluster.objects.filter(pk=cluster.pk).update(prices=prices)
    return price_list


def price_lists_apply_due(*, now: datetime | None = None) -> dict:
    """Beat task body: each cluster's current prices become the list in effect now, so a change dated in the future
    reaches estimates, previews and sizing (which read `Cluster.prices`) when its moment comes. Idempotent."""
    now = now or timezone.now()
    lists = PriceList.objects.filter(effective_from__lte=now).order_by("cluster_id", "-effective_from")
    if connection.vendor == "postgresql":
        in_effect = list(lists.distinct("cluster_id").values_list("cluster_id", "prices"))
    else:  # no DISTINCT ON: a cluster's first list in this order is the one in effect
        first: dict = {}
        for cluster_id, prices in lists.values_list("cluster_id", "prices"):
            first.setdefault(cluster_id, prices)
        in_effect = list(first.items())
    applied = 0
    for cluster_id, prices in in_effect:
        # Conditional: a cluster already at these prices is not written (nor its updated_at moved).
        applied += Cluster.objects.filter(pk=cluster_id).exclude(prices=prices).update(prices=prices)
    return {"applied": applied}
