"""A deployment's autoscaling page: the policy form per component, replicas over time with the autoscaler's
decisions marked (SVG drawn here), and the decisions with their reasons."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from autoscaling import endpoint_queue, selectors, services
from autoscaling.policy import SIGNAL_LABELS, SIGNALS
from console.charts import PlotArea
from console.views.deployments import _deployment_or_404
from core.exceptions import ServiceError
from serving.selectors import traffic_totals
from tenancy.selectors import user_can_write

CHART = PlotArea(width=720, height=180, left=32, right=32, top=32, bottom=32)
DECISIONS_SHOWN = 50


class PolicyForm(forms.Form):
    """One component's policy; empty min and max means no policy of its own (the template's, if any, applies)."""

    min_replicas = forms.IntegerField(required=False, min_value=0, help_text="0: scale to zero when idle.")
    max_replicas = forms.IntegerField(required=False, min_value=1)
    signal = forms.ChoiceField(choices=[(s, SIGNAL_LABELS[s]) for s in SIGNALS])
    target = forms.FloatField(required=False, help_text="Empty with an SLO signal: the use case's target.")
    scale_up_window_s = forms.IntegerField(min_value=0, initial=60, label="Scale-up window (s)")
    scale_down_window_s = forms.IntegerField(min_value=0, initial=300, label="Scale-down window (s)")
    max_step = forms.IntegerField(min_value=1, initial=2, label="Largest step")
    idle_timeout_s = forms.IntegerField(min_value=60, initial=600, label="Idle timeout before zero (s)")
    enabled = forms.BooleanField(required=False, initial=True)

    def policy(self) -> dict | None:
        data = dict(self.cleaned_data)
        if data["min_replicas"] is None and data["max_replicas"] is None:
            return None
        return data


def policy_forms(deployment, data) -> dict[str, PolicyForm]:
    """One policy form per component, filled with the policy that applies now (also shown on the scale page)."""
    policies = selectors.effective_policies(deployment)
    result = {}
    for key in selectors.component_keys(deployment):
        policy = policies.get(key)
        initial = policy[0].to_dict() if policy else {}
        result[key] = PolicyForm(data, prefix=key, initial=initial)
    return result


def replicas_chart(decisions, *, now, hours: int = 24) -> dict:
    """An SVG step line of the replicas asked for over the last `hours`, a dot per decision (its reason as title)."""
    start = now - timedelta(hours=hours)
    shown = sorted((d for d in decisions if d.created_at >= start), key=lambda d: d.created_at)
    if not shown:
        return {}
    top = max(max(d.from_replicas, d.to_replicas) for d in shown) or 1
    span = (now - start).total_seconds()

    def x(moment) -> float:
        return round(CHART.left + (moment - start).total_seconds() / span * CHART.plot_width, 1)

    def y(replicas) -> float:
        return round(CHART.plot_bottom - replicas / top * CHART.plot_height, 1)

    points = [(CHART.left, y(shown[0].from_replicas))]
    marks = []
    for decision in shown:
        points += [(x(decision.created_at), points[-1][1]), (x(decision.created_at), y(decision.to_replicas))]
        marks.append({"x": x(decision.created_at), "y": y(decision.to_replicas), "decision": decision})
    points.append((CHART.plot_right, points[-1][1]))
    return {
        "width": CHART.width,
        "height": CHART.height,
        "path": " ".join(f"{px},{py}" for px, py in points),
        "marks": marks,
        "ticks": [{"y": y(n), "label": n} for n in sorted({0, top, top // 2})],
        "x0": CHART.left,
        "x1": CHART.plot_right,
    }


@login_required
@require_http_methods(["GET", "POST"])
def deployment_autoscaling_page(request, pk):
    deployment = _deployment_or_404(request, pk)
    can_write = user_can_write(request.user, deployment.tenant_id)
    if request.method == "POST" and not can_write:
        raise PermissionDenied("Your role in this tenant is read-only.")
    forms_ = policy_forms(deployment, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if all(form.is_valid() for form in forms_.values()):
            components = {key: form.policy() for key, form in forms_.items()}
            try:
                services.policy_set(user=request.user, deployment=deployment, components=components)
            except ServiceError as error:
                status = error.status_code
                for path, reasons in (error.errors or {"non_field_errors": [error.detail]}).items():
                    _, key, name = ([*path.split("."), "", ""])[:3]
                    form = forms_.get(key)
                    target = name if form is not None and name in form.fields else None
                    (form or next(iter(forms_.values()))).add_error(target, reasons)
            else:
                messages.success(request, "Autoscaling policy saved; the autoscaler applies it within 15 s.")
                return redirect("console:deployment-autoscaling", pk=deployment.pk)
        else:
            status = 400
    decisions = list(selectors.decision_list(deployment=deployment)[:DECISIONS_SHOWN])
    replicas = selectors.current_replicas(deployment)
    now = timezone.now()
    queue = traffic_totals(deployment_id=deployment.pk, start=now - timedelta(hours=24), end=now)
    queue["length"] = endpoint_queue.length(deployment_id=deployment.pk)
    return render(
        request,
        "console/deployments/autoscaling.html",
        {
            "deployment": deployment,
            "components": [(key, form, replicas[key]) for key, form in forms_.items()],
            "decisions": decisions,
            "chart": replicas_chart(decisions, now=now),
            "queue": queue,
            "can_write": can_write,
        },
        status=status,
    )
