"""Alerts of the user's deployments: the list with filters, acknowledge and silence (the API's services)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.exceptions import ServiceError
from deployments.selectors import deployment_list
from observability import services
from observability.filters import AlertFilterSet
from observability.models import Alert, AlertRule
from observability.selectors import alert_list
from tenancy.selectors import user_can_write

PAGE_SIZE = 50
SILENCE_CHOICES = ((15, "15 min"), (60, "1 hour"), (240, "4 hours"), (1440, "1 day"))


@login_required
def alert_list_page(request):
    """Firing and past alerts, newest first; filter by state, severity and deployment; act on one."""
    filterset = AlertFilterSet(request.GET, queryset=alert_list(user=request.user))
    errors = None if filterset.is_valid() else filterset.errors
    queryset = filterset.qs if errors is None else Alert.objects.none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    writable = {
        a.deployment.tenant_id for a in page.object_list if user_can_write(request.user, a.deployment.tenant_id)
    }
    return render(
        request,
        "console/alerts/list.html",
        {
            "page": page,
            "errors": errors,
            "filters": request.GET,
            "query": query.urlencode(),
            "states": Alert.State.choices,
            "severities": AlertRule.Severity.choices,
            "selected_states": request.GET.getlist("state"),
            "selected_severities": request.GET.getlist("severity"),
            "deployments": deployment_list(user=request.user).exclude(status="DELETED").order_by("name"),
            "writable": writable,
            "silence_choices": SILENCE_CHOICES,
            "now": timezone.now(),
        },
    )


def _alert_or_404(request, pk) -> Alert:
    alert = alert_list(user=request.user).filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert.")
    return alert


def _back(request):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("console:alerts")


@login_required
@require_POST
def alert_acknowledge_page(request, pk):
    alert = _alert_or_404(request, pk)
    try:
        services.alert_acknowledge(user=request.user, alert=alert, now=timezone.now())
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"{alert.rule.name} on {alert.deployment.name} acknowledged.")
    return _back(request)


@login_required
@require_POST
def alert_silence_page(request, pk):
    alert = _alert_or_404(request, pk)
    minutes = request.POST.get("minutes", "")
    if not minutes.isdigit() or int(minutes) not in dict(SILENCE_CHOICES):
        messages.error(request, "Choose how long to silence it for.")
        return _back(request)
    try:
        services.alert_silence(user=request.user, alert=alert, minutes=int(minutes), now=timezone.now())
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"{alert.rule.name} on {alert.deployment.name} silenced for {minutes} min.")
    return _back(request)
