"""Writes a user makes: a deployment's SLO objective and the load profile the simulated driver gives it."""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_record, snapshot
from deployments.models import UseCaseDeployment
from observability.models import DeploymentMonitoring

FIELDS = ("objective", "load_kind", "requests_per_second", "peak_hour", "burst_factor", "seed")


def monitoring_get(*, deployment: UseCaseDeployment) -> DeploymentMonitoring:
    """The deployment's monitoring settings, the defaults when it has none stored (not saved)."""
    return DeploymentMonitoring.objects.filter(deployment=deployment).first() or DeploymentMonitoring(
        deployment=deployment
    )


@transaction.atomic
def monitoring_update(*, user, deployment: UseCaseDeployment, changes: dict) -> DeploymentMonitoring:
    """Set some of the monitoring fields (the others keep their value); audited."""
    monitoring, _ = DeploymentMonitoring.objects.select_for_update().get_or_create(deployment=deployment)
    before = snapshot(monitoring, FIELDS)
    for name, value in changes.items():
        if name in FIELDS:
            setattr(monitoring, name, value)
    monitoring.full_clean()
    monitoring.save()
    audit_record(
        action="update_monitoring",
        obj=deployment,
        tenant_id=deployment.tenant_id,
        before=before,
        after=snapshot(monitoring, FIELDS),
    )
    return monitoring
