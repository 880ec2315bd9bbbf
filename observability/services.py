"""Writes a user makes: SLO objective and load profile, alert rules, channels, silences and acknowledgements."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from audit.services import audit_record, snapshot
from core.exceptions import PermissionDenied, ValidationError
from deployments.models import UseCaseDeployment
from observability.models import Alert, AlertRule, DeploymentMonitoring, NotificationChannel
from tenancy.selectors import user_can_write

RULE_FIELDS = ("name", "kind", "severity", "params", "enabled")
CHANNEL_FIELDS = ("name", "kind", "enabled")  # the target (a URL with a token) stays out of the audit trail

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


def _require_write(user, tenant_id) -> None:
    if not user_can_write(user, tenant_id):
        raise PermissionDenied("Your role in this tenant is read-only.")


@transaction.atomic
def alert_rule_create(*, user, deployment: UseCaseDeployment, **fields) -> AlertRule:
    """A rule on one deployment (kind and params checked by the serializer); audited."""
    _require_write(user, deployment.tenant_id)
    if AlertRule.objects.filter(deployment=deployment, name=fields["name"]).exists():
        raise ValidationError({"name": ["This deployment already has a rule with this name."]})
    rule = AlertRule.objects.create(deployment=deployment, source="api", **fields)
    audit_record(action="create", obj=rule, tenant_id=deployment.tenant_id, after=snapshot(rule, RULE_FIELDS))
    return rule


def _update(*, obj, changes: dict, audited: tuple, tenant_id, siblings) -> None:
    """Apply changes (a name another sibling has is a field error), save, audit."""
    if "name" in changes and siblings.filter(name=changes["name"]).exclude(pk=obj.pk).exists():
        raise ValidationError({"name": ["Another one here already has this name."]})
    before = snapshot(obj, audited)
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.save()
    audit_record(action="update", obj=obj, tenant_id=tenant_id, before=before, after=snapshot(obj, audited))


@transaction.atomic
def alert_rule_update(*, user, rule: AlertRule, **fields) -> AlertRule:
    siblings = AlertRule.objects.filter(deployment_id=rule.deployment_id)
    _update(obj=rule, changes=fields, audited=RULE_FIELDS, tenant_id=rule.deployment.tenant_id, siblings=siblings)
    return rule


@transaction.atomic
def alert_rule_delete(*, user, rule: AlertRule) -> None:
    audit_record(action="delete", obj=rule, tenant_id=rule.deployment.tenant_id, before=snapshot(rule, RULE_FIELDS))
    rule.delete()


@transaction.atomic
def channel_create(*, user, tenant, **fields) -> NotificationChannel:
    _require_write(user, tenant.pk)
    if NotificationChannel.objects.filter(tenant=tenant, name=fields["name"]).exists():
        raise ValidationError({"name": ["This tenant already has a channel with this name."]})
    channel = NotificationChannel.objects.create(tenant=tenant, **fields)
    audit_record(action="create", obj=channel, after=snapshot(channel, CHANNEL_FIELDS))
    return channel


@transaction.atomic
def channel_update(*, user, channel: NotificationChannel, **fields) -> NotificationChannel:
    siblings = NotificationChannel.objects.filter(tenant_id=channel.tenant_id)
    _update(obj=channel, changes=fields, audited=CHANNEL_FIELDS, tenant_id=channel.tenant_id, siblings=siblings)
    return channel


@transaction.atomic
def channel_delete(*, user, channel: NotificationChannel) -> None:
    audit_record(action="delete", obj=channel, before=snapshot(channel, CHANNEL_FIELDS))
    channel.delete()


@transaction.atomic
def alert_silence(*, user, alert: Alert, minutes: int, now: datetime) -> Alert:
    """No notifications for this alert (and a refiring of its rule) until then."""
    _require_write(user, alert.deployment.tenant_id)
    alert.silenced_until = now + timedelta(minutes=minutes)
    alert.save(update_fields=["silenced_until"])
    audit_record(action="silence", obj=alert, tenant_id=alert.deployment.tenant_id,
                 after={"silenced_until": alert.silenced_until.isoformat()})  # fmt: skip
    return alert


@transaction.atomic
def alert_acknowledge(*, user, alert: Alert, now: datetime) -> Alert:
    """Someone is on it: recorded once (a second acknowledgement keeps the first)."""
    _require_write(user, alert.deployment.tenant_id)
    Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(acknowledged_at=now, acknowledged_by=user)
    alert.refresh_from_db()
    audit_record(action="acknowledge", obj=alert, tenant_id=alert.deployment.tenant_id,
                 after={"acknowledged_at": alert.acknowledged_at.isoformat()})  # fmt: skip
    return alert
