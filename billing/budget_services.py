"""Writes of budgets (create, update, delete) and the beat's check that records and notifies 80% / 100%."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from billing.budgets import budget_statuses
from billing.models import Budget, BudgetAlert
from core.exceptions import ValidationError
from deployments.models import DeploymentEvent, UseCaseDeployment
from observability.alerts import notification_send
from tenancy.models import Project, Tenant
from tenancy.selectors import require_admin

AUDITED = ("name", "amount", "hard_cap", "project_id")


def _snapshot(budget: Budget) -> dict:
    return {field: None if getattr(budget, field) is None else str(getattr(budget, field)) for field in AUDITED}


def _check(*, tenant: Tenant, project: Project | None, amount: Decimal, name: str, exclude=None) -> None:
    errors = {}
    if project is not None and project.tenant_id != tenant.pk:
        errors["project_id"] = ["Not a project of the budget's tenant."]
    if amount is not None and amount <= 0:
        errors["amount"] = ["A positive amount per month."]
    siblings = Budget.objects.filter(tenant=tenant).exclude(pk=exclude)
    if siblings.filter(name=name).exists():
        errors["name"] = ["The tenant already has a budget of that name."]
    if project is not None and siblings.filter(project=project).exists():
        errors["project_id"] = ["This project already has a budget."]
    if project is None and siblings.filter(project__isnull=True).exists():
        errors["project_id"] = ["The tenant already has a tenant-wide budget: give a project."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def budget_create(
    *, user, tenant: Tenant, project: Project | None, name: str, amount: Decimal, hard_cap: bool = False
) -> Budget:
    """A monthly budget for a project (or the whole tenant when project is None)."""
    require_admin(user, tenant.pk, manages="set budgets")
    _check(tenant=tenant, project=project, amount=amount, name=name)
    try:
        with transaction.atomic():
            budget = Budget.objects.create(
                tenant=tenant, project=project, name=name, amount=amount, hard_cap=hard_cap, created_by=user
            )
    except IntegrityError:  # a concurrent create of the same scope or name
        raise ValidationError({"project_id": ["This scope already has a budget."]}) from None
    audit_record(action="create", obj=budget, after=_snapshot(budget))
    return budget


@transaction.atomic
def budget_update(*, user, budget: Budget, **changes) -> Budget:
    """Change a budget's name, amount, hard cap or project (within its tenant)."""
    require_admin(user, budget.tenant_id, manages="set budgets")
    budget = Budget.objects.select_for_update().select_related("tenant").get(pk=budget.pk)
    before = _snapshot(budget)
    for field, value in changes.items():
        setattr(budget, field, value)
    _check(tenant=budget.tenant, project=budget.project, amount=budget.amount, name=budget.name, exclude=budget.pk)
    budget.save()
    audit_record(action="update", obj=budget, before=before, after=_snapshot(budget))
    return budget


@transaction.atomic
def budget_delete(*, user, budget: Budget) -> None:
    require_admin(user, budget.tenant_id, manages="set budgets")
    audit_record(action="delete", obj=budget, before=_snapshot(budget))
    budget.delete()


def budgets_check(*, now: datetime | None = None) -> dict:
    """Beat task body: record each budget crossing 80% and 100% this month once, and notify the tenant's channels."""
    now = now or timezone.now()
    budgets = list(Budget.objects.select_related("tenant", "project"))
    statuses = budget_statuses(budgets, now=now)
    fired = 0
    for budget in budgets:
        status = statuses[budget.pk]
        for threshold in status.reached:
            fired += _fire(budget=budget, status=status, threshold=threshold, now=now)
    return {"budgets": len(budgets), "alerts": fired}


@transaction.atomic
def _fire(*, budget: Budget, status, threshold: int, now: datetime) -> int:
    _, created = BudgetAlert.objects.get_or_create(
        budget=budget,
        month=status.month.date(),
        threshold=threshold,
        defaults={"spent": status.spent, "forecast": status.forecast, "fired_at": now},
    )
    if not created:
        return 0
    scope = budget.project.name if budget.project else f"tenant {budget.tenant.name}"
    subject = f"Budget {budget.name} at {threshold}%: ${status.spent:.2f} of ${budget.amount:.2f} ({scope})"
    message = (
        f"{scope} has spent ${status.spent:.2f} of its ${budget.amount:.2f} budget for {status.month:%Y-%m}; "
        f"forecast ${status.forecast:.2f} at the current burn rate."
        + (" The hard cap now refuses new deployments and scale-ups." if threshold >= 100 and budget.hard_cap else "")
    )
    body = {
        "message": message,
        "budget": {
            "id": str(budget.pk),
            "name": budget.name,
            "amount": str(budget.amount),
            "hard_cap": budget.hard_cap,
        },
        "project_id": str(budget.project_id) if budget.project_id else None,
        "tenant_id": str(budget.tenant_id),
        "month": f"{status.month:%Y-%m}",
        "threshold": threshold,
        "spent": f"{status.spent:.2f}",
        "forecast": f"{status.forecast:.2f}",
    }
    notification_send(tenant_id=budget.tenant_id, event=f"budget_{threshold}", subject=subject, body=body, now=now)
    _budget_events(budget=budget, subject=subject, body=body)
    return 1


def _budget_events(*, budget: Budget, subject: str, body: dict) -> None:
    """The alert on the timeline of every live deployment the budget covers, where its users look (one insert)."""
    deployments = UseCaseDeployment.objects.filter(tenant_id=budget.tenant_id).exclude(
        status=UseCaseDeployment.Status.DELETED
    )
    if budget.project_id is not None:
        deployments = deployments.filter(project_id=budget.project_id)
    DeploymentEvent.objects.bulk_create(
        DeploymentEvent(
            deployment_id=deployment_id,
            kind=DeploymentEvent.Kind.BUDGET_ALERT,
            message=subject,
            data={key: body[key] for key in ("budget", "month", "threshold", "spent", "forecast")},
        )
        for deployment_id in deployments.values_list("pk", flat=True)
    )
