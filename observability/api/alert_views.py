from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from observability import selectors, services
from observability.api.alert_serializers import (
    AlertRuleSerializer,
    AlertSerializer,
    NotificationChannelSerializer,
    SilenceSerializer,
)
from observability.filters import AlertFilterSet, AlertRuleFilterSet, NotificationChannelFilterSet
from observability.models import Alert, AlertRule, NotificationChannel
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedMixin, TenantScopedViewSet

WRITE_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Field errors."),
    403: OpenApiResponse(ErrorSerializer, description="Read-only role."),
    404: OpenApiResponse(ErrorSerializer, description="Not in the caller's tenants."),
}


class AlertRuleViewSet(TenantScopedViewSet):
    """Alert rules per deployment: the defaults (SLO fast/slow burn, not running, degraded), the template's, yours."""

    queryset = AlertRule.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = AlertRuleSerializer
    filterset_class = AlertRuleFilterSet
    tenant_field = "deployment__tenant"
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.alert_rule_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.alert_rule_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = {k: v for k, v in serializer.validated_data.items() if k != "deployment"}
        serializer.instance = services.alert_rule_update(user=self.request.user, rule=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.alert_rule_delete(user=self.request.user, rule=instance)


class NotificationChannelViewSet(TenantScopedViewSet):
    """Where alerts go: webhooks (generic JSON), Slack-compatible webhooks, e-mail."""

    queryset = NotificationChannel.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = NotificationChannelSerializer
    filterset_class = NotificationChannelFilterSet
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.channel_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.channel_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = {k: v for k, v in serializer.validated_data.items() if k != "tenant"}
        serializer.instance = services.channel_update(user=self.request.user, channel=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.channel_delete(user=self.request.user, channel=instance)


class AlertViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Firing and recent alerts of the caller's deployments; silence or acknowledge one."""

    queryset = Alert.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    tenant_field = "deployment__tenant"
    ordering_fields = ["fired_at", "resolved_at"]

    def get_queryset(self):
        return selectors.alert_list(user=self.request.user)

    @extend_schema(request=SilenceSerializer, responses={200: AlertSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[])
    def silence(self, request, pk=None):
        """No notifications for this alert (or its rule firing again) for `minutes`."""
        alert = self.get_object()
        body = SilenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = services.alert_silence(
            user=request.user, alert=alert, minutes=body.validated_data["minutes"], now=timezone.now()
        )
        return Response(AlertSerializer(alert).data)

    @extend_schema(request=None, responses={200: AlertSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request, pk=None):
        """Say someone is on it (who and when are recorded once)."""
        alert = services.alert_acknowledge(user=request.user, alert=self.get_object(), now=timezone.now())
        return Response(AlertSerializer(alert).data)
