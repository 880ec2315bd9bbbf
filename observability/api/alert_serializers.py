from __future__ import annotations

from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from deployments.models import UseCaseDeployment
from observability.models import Alert, AlertRule, NotificationChannel
from observability.selectors import WINDOWS
from observability.template_rules import latency_params
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField
from tenancy.models import Tenant

TARGET_CHOICES = ("any", "ttft", "itl", "e2e")


class AlertRuleSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    deployment_id = ScopedPrimaryKeyRelatedField(source="deployment", queryset=UseCaseDeployment.objects.all())
    params = serializers.JSONField(
        required=False,
        help_text='burn_rate: {"target": "any|ttft|itl|e2e", "long_window": "1h", "short_window": "5m", "factor": '
        '14.4}; not_running: {"minutes": 10}; cost_over_budget: {"budget": "100.00", "window": "1h|6h|30d"}; '
        'latency: {"component": "orchestrator", "quantile": 0.95, "threshold_s": 3, "window": "5m|30m|1h"}.',
    )

    class Meta:
        model = AlertRule
        fields = ["id", "deployment_id", "name", "kind", "severity", "params", "source", "enabled", "created_at"]
        read_only_fields = ["id", "source", "created_at"]
        validators: list = []  # the service answers a duplicate name as a field error on `name`

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        params = attrs.get("params", getattr(self.instance, "params", None)) or {}
        if not isinstance(params, dict):
            raise serializers.ValidationError({"params": ["Must be an object."]})
        errors = {}
        if kind == AlertRule.Kind.BURN_RATE:
            if params.get("target", "any") not in TARGET_CHOICES:
                errors["params.target"] = [f"One of {', '.join(TARGET_CHOICES)}."]
            for key, default in (("long_window", "1h"), ("short_window", "5m")):
                if params.get(key, default) not in WINDOWS or params.get(key, default) == "30d":
                    errors[f"params.{key}"] = ["One of 5m, 30m, 1h, 6h."]
            if not _positive(params.get("factor", 14.4)):
                errors["params.factor"] = ["A positive number."]
        elif kind == AlertRule.Kind.NOT_RUNNING and not _positive(params.get("minutes", 10)):
            errors["params.minutes"] = ["A positive number of minutes."]
        elif kind == AlertRule.Kind.LATENCY:
            normalised, problem = latency_params({"name": attrs.get("name", ""), **params})
            if problem:
                errors["params"] = [problem]
            else:
                attrs["params"] = normalised
        elif kind == AlertRule.Kind.COST_OVER_BUDGET:
            if not _positive(params.get("budget")):
                errors["params.budget"] = ["A positive amount of dollars."]
            if params.get("window", "30d") not in ("1h", "6h", "30d"):
                errors["params.window"] = ["One of 1h, 6h, 30d."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _positive(value) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


class NotificationChannelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    tenant_id = ScopedPrimaryKeyRelatedField(source="tenant", queryset=Tenant.objects.all(), tenant_field="id")
    url = serializers.URLField(
        write_only=True, required=False, help_text="webhook/slack: where to POST. Write-only (it carries tokens)."
    )
    emails = serializers.ListField(child=serializers.EmailField(), required=False, max_length=20)
    has_target = serializers.SerializerMethodField()

    class Meta:
        model = NotificationChannel
        fields = ["id", "tenant_id", "name", "kind", "url", "emails", "enabled", "has_target", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list = []  # the service answers a duplicate name as a field error on `name`

    def get_has_target(self, obj) -> bool:
        return bool((obj.target or {}).get("url") or (obj.target or {}).get("emails"))

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["emails"] = (instance.target or {}).get("emails", [])
        return data

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        target = dict(getattr(self.instance, "target", None) or {})
        if "url" in attrs:
            target["url"] = attrs.pop("url")
        if "emails" in attrs:
            target["emails"] = attrs.pop("emails")
        if kind == NotificationChannel.Kind.EMAIL and not target.get("emails"):
            raise serializers.ValidationError({"emails": ["At least one address for an e-mail channel."]})
        if kind != NotificationChannel.Kind.EMAIL and not target.get("url"):
            raise serializers.ValidationError({"url": ["Required for a webhook or Slack channel."]})
        attrs["target"] = target
        return attrs


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.name", read_only=True)
    kind = serializers.CharField(source="rule.kind", read_only=True)
    severity = serializers.CharField(source="rule.severity", read_only=True)
    deployment_id = serializers.UUIDField(read_only=True)
    deployment_name = serializers.CharField(source="deployment.name", read_only=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", read_only=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id", "rule", "kind", "severity", "deployment_id", "deployment_name", "state", "value", "threshold",
            "message", "fired_at", "resolved_at", "silenced_until", "acknowledged_at", "acknowledged_by",
        ]  # fmt: skip
        read_only_fields = fields


class SilenceSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
