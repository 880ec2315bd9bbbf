"""Writes of invoices: the monthly draft rebuilt from metering, credits/adjustments, finalisation."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from billing.metering import metering_pass
from billing.models import Invoice, InvoiceLine, UsageRecord
from billing.months import month_bounds, month_start
from billing.selectors import invoice_can_adjust
from billing.sums import Total, exact_sums
from core.exceptions import Conflict, PermissionDenied, ValidationError
from deployments.models import UseCaseDeployment
from tenancy.models import Project, Tenant

CENT = Decimal("0.01")
LINE_TOTAL = {"total": Total(("amount",))}
RESOURCES = (  # (line resource, quantity field, amount field, unit)
    ("gpu", "gpu_minutes", "gpu_amount", "GPU-minute"),
    ("cpu", "cpu_core_minutes", "cpu_amount", "core-minute"),
    ("memory", "memory_gib_minutes", "memory_amount", "GiB-minute"),
)


def round_lines(amounts: list[Decimal]) -> list[Decimal]:
    """The one rounding rule: each line to the cent so the lines add up to the exact sum rounded half-up.

    Lines are first cut down to the cent; the cents left over go one each to the lines with the largest remainders
    (ties by order). So the invoice total equals the metering sum to the cent, and no line moves by a cent or more.
    """
    target = sum(amounts, Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
    floors = [amount.quantize(CENT, rounding=ROUND_DOWN) for amount in amounts]
    left = int((target - sum(floors, Decimal(0))) / CENT)
    order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] - floors[i]), i))
    step = CENT if left >= 0 else -CENT
    for index in order[: abs(left)]:
        floors[index] += step
    return floors


def _usage_lines(invoice: Invoice) -> list[InvoiceLine]:
    start, end = month_bounds(invoice.month)
    sums = {}
    for name, quantity_field, amount_field, _unit in RESOURCES:
        sums[f"{name}_qty"], sums[f"{name}_amount"] = Total((quantity_field,)), Total((amount_field,))
    groups = exact_sums(
        UsageRecord.objects.filter(tenant_id=invoice.tenant_id, minute__gte=start, minute__lt=end),
        ("project_id", "usecase_deployment_id", "gpu_type"),
        sums,
        ordered=True,
    )
    deployment_ids = {group["usecase_deployment_id"] for group in groups} - {None}
    deployments = {d.pk: d for d in UseCaseDeployment.objects.filter(pk__in=deployment_ids).select_related("template")}
    # A deleted deployment keeps the name, use case and template its earlier draft lines recorded.
    earlier = {
        line.usecase_deployment_id: line
        for line in invoice.lines.filter(kind=InvoiceLine.Kind.USAGE, usecase_deployment_id__in=deployment_ids)
    }
    lines = []
    for group in groups:
        deployment_id = group["usecase_deployment_id"]
        labels = _labels(deployments.get(deployment_id), earlier.get(deployment_id), deployment_id)
        for name, _qty, _amount, unit in RESOURCES:
            quantity, amount = group[f"{name}_qty"], group[f"{name}_amount"]
            if not quantity:
                continue
            resource = f"gpu:{group['gpu_type']}" if name == "gpu" else name
            lines.append(
                InvoiceLine(
                    invoice=invoice,
                    kind=InvoiceLine.Kind.USAGE,
                    project_id=group["project_id"],
                    usecase_deployment_id=deployment_id,
                    resource=resource,
                    unit=unit,
                    quantity=quantity.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP),
                    unrounded_amount=amount,
                    **labels,
                )
            )
    for line, rounded in zip(lines, round_lines([line.unrounded_amount for line in lines]), strict=True):
        line.amount = rounded
    return lines


def _labels(deployment, earlier: InvoiceLine | None, deployment_id) -> dict:
    if deployment is not None:
        return {
            "deployment_name": deployment.name,
            "usecase": deployment.usecase_id,
            "template": deployment.template.slug,
        }
    if earlier is not None:
        return {"deployment_name": earlier.deployment_name, "usecase": earlier.usecase, "template": earlier.template}
    return {
        "deployment_name": f"deleted deployment {deployment_id}" if deployment_id else "",
        "usecase": "",
        "template": "",
    }


@transaction.atomic
def invoice_refresh(*, tenant: Tenant, month: date, now: datetime | None = None) -> Invoice:
    """Create or rebuild the tenant's draft for `month` from the usage records (adjustment lines are kept)."""
    invoice, _ = Invoice.objects.get_or_create(tenant=tenant, month=month_start(month))
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.FINAL:
        raise Conflict(f"Invoice {invoice.number} is final; it cannot change.")
    lines = _usage_lines(invoice)
    invoice.lines.filter(kind=InvoiceLine.Kind.USAGE).delete()
    InvoiceLine.objects.bulk_create(lines)
    return _retotal(invoice, now=now)


def _retotal(invoice: Invoice, *, now: datetime | None) -> Invoice:
    totals = {row["kind"]: row["total"] for row in exact_sums(invoice.lines.all(), ("kind",), LINE_TOTAL)}
    usage = totals.get(InvoiceLine.Kind.USAGE) or Decimal(0)
    adjustments = totals.get(InvoiceLine.Kind.ADJUSTMENT)
    invoice.usage_total = usage
    invoice.total = usage + (adjustments or Decimal(0))
    invoice.computed_at = now or timezone.now()
    invoice.save(update_fields=["usage_total", "total", "computed_at"])
    return invoice


@transaction.atomic
def invoice_adjustment_add(
    *, user: AbstractBaseUser, invoice: Invoice, amount: Decimal, reason: str, project: Project | None = None
) -> InvoiceLine:
    """A credit (negative) or charge on a draft, to the cent, with who added it and why."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice_can_adjust(user=user, invoice=invoice):
        raise PermissionDenied("Only the tenant's admins adjust its invoices.")
    errors = {}
    if invoice.status == Invoice.Status.FINAL:
        raise Conflict(f"Invoice {invoice.number} is final; it cannot change.")
    amount = Decimal(amount)
    if amount != amount.quantize(CENT) or amount == 0:
        errors["amount"] = "A non-zero amount in whole cents."
    if not reason.strip():
        errors["reason"] = "Say why."
    if project is not None and project.tenant_id != invoice.tenant_id:
        errors["project_id"] = "Not a project of the invoice's tenant."
    if errors:
        raise ValidationError(errors)
    line = InvoiceLine.objects.create(
        invoice=invoice,
        kind=InvoiceLine.Kind.ADJUSTMENT,
        project=project,
        amount=amount,
        unrounded_amount=amount,
        reason=reason.strip(),
        created_by=user,
    )
    _retotal(invoice, now=None)
    return line


def invoice_checksum(invoice: Invoice) -> str:
    """sha256 over the invoice's number, tenant, month, totals and every line, in a canonical JSON form."""
    fields = [
        "kind",
        "project_id",
        "usecase_deployment_id",
        "deployment_name",
        "usecase",
        "template",
        "resource",
        "unit",
        "quantity",
        "amount",
        "reason",
        "created_by_id",
    ]
    content = {
        "number": invoice.number,
        "tenant": str(invoice.tenant_id),
        "month": invoice.month.isoformat(),
        "usage_total": str(invoice.usage_total),
        "total": str(invoice.total),
        "lines": [[str(value) for value in row] for row in invoice.lines.order_by("pk").values_list(*fields)],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def invoice_finalise(*, invoice: Invoice, now: datetime | None = None, user: AbstractBaseUser | None = None) -> Invoice:
    """Rebuild the draft one last time after its month is over, then number it and seal it with a checksum.

    `user`: someone finalising by hand (the console), who must be the tenant's admin; None is the beat's close."""
    now = now or timezone.now()
    if user is not None and not invoice_can_adjust(user=user, invoice=invoice):
        raise PermissionDenied("Only the tenant's admins finalise its invoices.")
    # Finalising numbers the month's invoices one after another: every invoice row of the month is locked (in one
    # order, so two finalisers cannot deadlock), which also makes a second finaliser of this invoice see it final.
    list(Invoice.objects.select_for_update().filter(month=invoice.month).order_by("pk").values_list("pk", flat=True))
    invoice.refresh_from_db(fields=["status", "number"])
    if invoice.status == Invoice.Status.FINAL:
        raise Conflict(f"Invoice {invoice.number} is already final.")
    if now < month_bounds(invoice.month)[1]:
        raise Conflict(f"The month {invoice.month:%Y-%m} is not over; its invoice stays a draft.")
    invoice = invoice_refresh(tenant=invoice.tenant, month=invoice.month, now=now)
    sequence = Invoice.objects.filter(month=invoice.month, status=Invoice.Status.FINAL).count() + 1
    invoice.number = f"INV-{invoice.month:%Y%m}-{sequence:05d}"
    invoice.status = Invoice.Status.FINAL
    invoice.finalised_at = now
    invoice.checksum = invoice_checksum(invoice)
    invoice.save(update_fields=["number", "status", "finalised_at", "checksum"])
    return invoice


def invoices_close_month(*, now: datetime | None = None) -> dict:
    """Beat task body: finalise every tenant's invoice of the month before `now` that has usage or a draft."""
    now = now or timezone.now()
    metering_pass(now=now)  # the month's last minutes are recorded before it is billed
    last = month_start(month_start(now) - timedelta(days=1))
    start, end = month_bounds(last)
    tenant_ids = set(
        UsageRecord.objects.filter(minute__gte=start, minute__lt=end).values_list("tenant_id", flat=True).distinct()
    ) | set(Invoice.objects.filter(month=last, status=Invoice.Status.DRAFT).values_list("tenant_id", flat=True))
    finalised = 0
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        invoice, _ = Invoice.objects.get_or_create(tenant=tenant, month=last)
        if invoice.status == Invoice.Status.DRAFT:
            invoice_finalise(invoice=invoice, now=now)
            finalised += 1
    return {"month": last.isoformat(), "finalised": finalised}


def invoices_refresh_current(*, now: datetime | None = None) -> dict:
    """Beat task body: rebuild this month's draft of every tenant with usage this month."""
    now = now or timezone.now()
    month = month_start(now)
    start, end = month_bounds(month)
    tenant_ids = UsageRecord.objects.filter(minute__gte=start, minute__lt=end).values_list("tenant_id", flat=True)
    tenants = Tenant.objects.filter(pk__in=tenant_ids.distinct()).order_by("pk")
    for tenant in tenants:
        invoice_refresh(tenant=tenant, month=month, now=now)
    return {"month": month.isoformat(), "refreshed": len(tenants)}
