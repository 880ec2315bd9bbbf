"""A deployment's endpoint and its API keys: create (the secret shown once, on this response only), rotate, revoke."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from console.views.deployments import _deployment_or_404
from core.exceptions import ServiceError
from deployments.selectors import deployment_endpoint_url
from serving import selectors, services
from serving.models import MAX_RATE_LIMIT
from tenancy.selectors import user_can_write


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses the key (a service, a team), to tell keys apart.")
    rate_limit = forms.IntegerField(
        label="Rate limit (requests per minute)",
        required=False,
        min_value=1,
        max_value=MAX_RATE_LIMIT,
        help_text="Beyond it the endpoint answers 429. Empty: the default.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rate_limit"].widget.attrs["placeholder"] = str(settings.SERVING_DEFAULT_RATE_LIMIT)


def _page(request, deployment, *, form=None, secret=None, secret_key=None, status=200):
    return render(
        request,
        "console/deployments/keys.html",
        {
            "deployment": deployment,
            "endpoint": deployment_endpoint_url(deployment, request=request),
            "keys": list(selectors.key_list(user=request.user, deployment=deployment)),
            "form": form or KeyForm(),
            "can_write": user_can_write(request.user, deployment.tenant_id),
            "secret": secret,
            "secret_key": secret_key,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_keys_page(request, pk):
    """The endpoint (with a copy button and a curl line) and the keys; POST creates one and shows its secret once."""
    deployment = _deployment_or_404(request, pk)
    if request.method == "GET":
        return _page(request, deployment)
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _page(request, deployment, form=form, status=400)
    try:
        key, secret = services.key_create(user=request.user, deployment=deployment, **form.cleaned_data)
    except ServiceError as error:
        for field, reasons in error.errors.items():
            form.add_error(field if field in form.fields else None, reasons)
        if not error.errors:
            form.add_error(None, error.detail)
        return _page(request, deployment, form=form, status=error.status_code)
    return _page(request, deployment, secret=secret, secret_key=key)


@login_required
@require_http_methods(["POST"])
def deployment_key_action(request, pk, key_id, verb):
    """Rotate (the new secret shown once) or revoke one key."""
    deployment = _deployment_or_404(request, pk)
    key = selectors.key_list(user=request.user, deployment=deployment).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such key.")
    try:
        if verb == "rotate":
            key, secret = services.key_rotate(user=request.user, key=key)
            return _page(request, deployment, secret=secret, secret_key=key)
        services.key_revoke(user=request.user, key=key)
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Key {key.name} revoked: the endpoint refuses it from now on.")
    return redirect("console:deployment-keys", pk=deployment.pk)
