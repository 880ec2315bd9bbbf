"""Reads of the billing app, scoped to the caller's tenants."""

from __future__ import annotations

import csv
import io

from django.db.models import QuerySet

from billing.models import Invoice, PriceList
from tenancy.selectors import scope_to_user, user_is_tenant_admin

CSV_COLUMNS = [
    "invoice",
    "month",
    "kind",
    "project",
    "deployment",
    "usecase",
    "template",
    "resource",
    "unit",
    "quantity",
    "amount",
    "reason",
    "created_by",
]


def invoice_list(*, user) -> QuerySet[Invoice]:
    """The invoices of the caller's tenants (every member reads them: showback)."""
    return scope_to_user(Invoice.objects.select_related("tenant"), user)


def invoice_can_adjust(*, user, invoice: Invoice) -> bool:
    """Credits and adjustments are for the tenant's admins (and superusers)."""
    return bool(user.is_superuser or user_is_tenant_admin(user, invoice.tenant_id))


def invoice_csv(*, invoice: Invoice) -> str:
    """The invoice as CSV: one row a line, then the total row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    label = invoice.number or f"DRAFT-{invoice.month:%Y%m}"
    for line in invoice.lines.select_related("project", "created_by").order_by("kind", "project__name", "pk"):
        writer.writerow(
            [
                label,
                f"{invoice.month:%Y-%m}",
                line.kind,
                line.project.name if line.project else "",
                line.deployment_name,
                line.usecase,
                line.template,
                line.resource,
                line.unit,
                line.quantity,
                line.amount,
                line.reason,
                line.created_by.get_username() if line.created_by else "",
            ]
        )
    writer.writerow([label, f"{invoice.month:%Y-%m}", "TOTAL", "", "", "", "", "", "", "", invoice.total, "", ""])
    return out.getvalue()


def price_list_list(*, user) -> QuerySet[PriceList]:
    """The price lists of the clusters in the caller's tenants, in effect order."""
    lists = PriceList.objects.select_related("cluster", "created_by").order_by("cluster_id", "effective_from")
    return scope_to_user(lists, user, tenant_field="cluster__tenant")
