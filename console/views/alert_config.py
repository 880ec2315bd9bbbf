"""Alert rules of a deployment and the notification channels of a tenant, edited in the console: list, create,
edit, delete. The API's serializers check each submission (the same field errors, shown beside the fields) and its
services write it; everything is read through the observability selectors, so another tenant's rule or channel is a
404 and a viewer's write a 403."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.views.deployments import _deployment_or_404
from core.exceptions import ServiceError
from observability import services
from observability.api.alert_serializers import AlertRuleSerializer, NotificationChannelSerializer
from observability.models import AlertRule, NotificationChannel
from observability.selectors import alert_rule_list, channel_list
from tenancy.selectors import tenant_list, user_can_write, writable_tenant_ids

PARAMS_HELP = AlertRuleSerializer._declared_fields["params"].help_text


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AlertRule.Kind.choices)
    severity = forms.ChoiceField(choices=AlertRule.Severity.choices, initial=AlertRule.Severity.PAGE)
    params = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=f"JSON. {PARAMS_HELP}", initial="{}"
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def clean_params(self):
        raw = self.cleaned_data["params"].strip() or "{}"
        try:
            return json.loads(raw)
        except ValueError as error:
            raise forms.ValidationError(f"Not JSON: {error}.") from error


class ChannelForm(forms.Form):
    tenant = forms.ChoiceField(choices=())
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices)
    url = forms.CharField(
        required=False, max_length=2000, help_text="Webhook or Slack: where to POST. Write-only; empty keeps it."
    )
    emails = forms.CharField(required=False, help_text="E-mail: addresses separated by commas.")
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = [(str(t.pk), t.name) for t in tenants]

    def payload(self) -> dict:
        data = {k: self.cleaned_data[k] for k in ("name", "kind", "enabled")}
        data["tenant_id"] = self.cleaned_data["tenant"]
        if self.cleaned_data["url"]:
            data["url"] = self.cleaned_data["url"]
        emails = [e.strip() for e in self.cleaned_data["emails"].split(",") if e.strip()]
        if emails:
            data["emails"] = emails
        return data


def _errors_onto(form: forms.Form, errors: dict) -> None:
    """Field errors of a serializer or a service ("params.factor", "tenant_id") beside the form's fields."""
    for path, reasons in errors.items():
        name = {"tenant_id": "tenant", "deployment_id": None}.get(path, path.split(".")[0])
        reasons = reasons if isinstance(reasons, list) else [reasons]
        detail = [f"{path}: {r}" if "." in path else str(r) for r in reasons]
        form.add_error(name if name in form.fields else None, detail)


def _save(form: forms.Form, serializer, write) -> bool:
    """Check with the API's serializer, then write through the service; False with the errors on the form."""
    if not serializer.is_valid():
        _errors_onto(form, serializer.errors)
        return False
    try:
        write(serializer.validated_data)
    except ServiceError as error:
        _errors_onto(form, error.errors or {"non_field_errors": [error.detail]})
        return False
    return True


def _require_write(request, tenant_id) -> None:
    if not user_can_write(request.user, tenant_id):
        raise PermissionDenied("Your role in this tenant is read-only.")


@login_required
@require_http_methods(["GET", "POST"])
def alert_rules_page(request, pk):
    """A deployment's alert rules (defaults, template's and its own) and the form to add one."""
    deployment = _deployment_or_404(request, pk)
    can_write = user_can_write(request.user, deployment.tenant_id)
    form = RuleForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _require_write(request, deployment.tenant_id)
        if form.is_valid():
            data = {**form.cleaned_data, "deployment_id": str(deployment.pk)}
            serializer = AlertRuleSerializer(data=data, context={"request": request})
            if _save(form, serializer, lambda v: services.alert_rule_create(user=request.user, **v)):
                messages.success(request, f"Rule {data['name']} added.")
                return redirect("console:deployment-alert-rules", pk=deployment.pk)
        status = 400
    rules = alert_rule_list(user=request.user).filter(deployment=deployment).order_by("name")
    return render(
        request,
        "console/alerts/rules.html",
        {"deployment": deployment, "rules": rules, "form": form, "can_write": can_write},
        status=status,
    )


def _rule_or_404(request, deployment, rule_id) -> AlertRule:
    rule = alert_rule_list(user=request.user).filter(deployment=deployment, pk=rule_id).first()
    if rule is None:
        raise Http404("No such alert rule.")
    return rule


@login_required
@require_http_methods(["GET", "POST"])
def alert_rule_edit_page(request, pk, rule_id):
    deployment = _deployment_or_404(request, pk)
    rule = _rule_or_404(request, deployment, rule_id)
    initial = {"name": rule.name, "kind": rule.kind, "severity": rule.severity, "enabled": rule.enabled,
               "params": json.dumps(rule.params or {})}  # fmt: skip
    form = RuleForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        _require_write(request, deployment.tenant_id)
        if form.is_valid():
            serializer = AlertRuleSerializer(rule, data=form.cleaned_data, partial=True, context={"request": request})
            if _save(form, serializer, lambda v: services.alert_rule_update(user=request.user, rule=rule, **v)):
                messages.success(request, f"Rule {rule.name} saved.")
                return redirect("console:deployment-alert-rules", pk=deployment.pk)
        status = 400
    return render(
        request,
        "console/alerts/rule_edit.html",
        {"deployment": deployment, "rule": rule, "form": form,
         "can_write": user_can_write(request.user, deployment.tenant_id)},
        status=status,
    )  # fmt: skip


@login_required
@require_POST
def alert_rule_delete_page(request, pk, rule_id):
    deployment = _deployment_or_404(request, pk)
    rule = _rule_or_404(request, deployment, rule_id)
    _require_write(request, deployment.tenant_id)
    services.alert_rule_delete(user=request.user, rule=rule)
    messages.success(request, f"Rule {rule.name} deleted.")
    return redirect("console:deployment-alert-rules", pk=deployment.pk)


@login_required
@require_http_methods(["GET", "POST"])
def channel_list_page(request):
    """The notification channels of the caller's tenants, and the form to add one (in a tenant they write in)."""
    tenants = list(tenant_list(user=request.user).filter(pk__in=writable_tenant_ids(request.user)).order_by("name"))
    form = ChannelForm(request.POST if request.method == "POST" else None, tenants=tenants)
    status = 200
    if request.method == "POST":
        if not tenants:
            raise PermissionDenied("Your role is read-only in every tenant.")
        if form.is_valid():
            serializer = NotificationChannelSerializer(data=form.payload(), context={"request": request})
            if _save(form, serializer, lambda v: services.channel_create(user=request.user, **v)):
                messages.success(request, f"Channel {form.cleaned_data['name']} added.")
                return redirect("console:channels")
        status = 400
    channels = channel_list(user=request.user).order_by("tenant__name", "name")
    writable = {t.pk for t in tenants}
    return render(
        request,
        "console/alerts/channels.html",
        {"channels": channels, "form": form, "writable": writable, "can_write": bool(tenants)},
        status=status,
    )


def _channel_or_404(request, channel_id) -> NotificationChannel:
    channel = channel_list(user=request.user).filter(pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


@login_required
@require_http_methods(["GET", "POST"])
def channel_edit_page(request, channel_id):
    channel = _channel_or_404(request, channel_id)
    initial = {"tenant": str(channel.tenant_id), "name": channel.name, "kind": channel.kind,
               "enabled": channel.enabled, "emails": ", ".join((channel.target or {}).get("emails", []))}  # fmt: skip
    form = ChannelForm(request.POST if request.method == "POST" else None, tenants=[channel.tenant], initial=initial)
    status = 200
    if request.method == "POST":
        _require_write(request, channel.tenant_id)
        if form.is_valid():
            payload = {k: v for k, v in form.payload().items() if k != "tenant_id"}
            serializer = NotificationChannelSerializer(
                channel, data=payload, partial=True, context={"request": request}
            )
            if _save(form, serializer, lambda v: services.channel_update(user=request.user, channel=channel, **v)):
                messages.success(request, f"Channel {channel.name} saved.")
                return redirect("console:channels")
        status = 400
    return render(
        request,
        "console/alerts/channel_edit.html",
        {"channel": channel, "form": form, "can_write": user_can_write(request.user, channel.tenant_id)},
        status=status,
    )


@login_required
@require_POST
def channel_delete_page(request, channel_id):
    channel = _channel_or_404(request, channel_id)
    _require_write(request, channel.tenant_id)
    services.channel_delete(user=request.user, channel=channel)
    messages.success(request, f"Channel {channel.name} deleted.")
    return redirect("console:channels")
