"""Changes to a running deployment from its status page: update parameters (or upgrade), scale, roll back.

Each action is one page: the form, then (POST step=plan) the plan the service computes — per component, GPUs,
hourly cost, capacity — with the same values carried in hidden inputs, then (POST step=confirm) the matching service
applies it and the status page follows the rollout. Every rule is the services'; their errors go next to the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from autoscaling import selectors as autoscaling_selectors
from console.forms import (
    ParameterForm,
    RollbackForm,
    ScaleForm,
    UpdateForm,
    apply_change_error,
    changed_parameters,
    parameter_initial,
)
from console.selectors import model_suggestions
from console.views.autoscaling import policy_forms
from console.views.deployments import _deployment_or_404
from core.exceptions import ServiceError
from deployments import selectors, services
from deployments.models import DeploymentRevision, UseCaseDeployment
from deployments.state import DeploymentStatus
from templates_app.parameters import parameters_schema
from tenancy.selectors import user_can_write

PLAN, CONFIRM, EDIT = "plan", "confirm", "edit"


@dataclass
class ChangeForms:
    """The forms of one action and how their cleaned values become a change and a service call."""

    form: forms.Form
    parameters: ParameterForm | None = None
    extra: dict = field(default_factory=dict)

    def is_valid(self) -> bool:
        return self.form.is_valid() & (self.parameters is None or self.parameters.is_valid())

    def all(self) -> list[forms.Form]:
        return [f for f in (self.parameters, self.form) if f is not None]


def _update_forms(deployment: UseCaseDeployment, data, user) -> ChangeForms:
    parameter_form = ParameterForm(
        data, schema=parameters_schema(deployment.template), models=model_suggestions(user=user)
    )
    parameter_form.initial = parameter_initial(parameter_form, deployment.plan.get("parameters", {}))
    form = UpdateForm(
        data, current=deployment.template_version, upgrade=selectors.deployment_upgrade_available(deployment)
    )
    return ChangeForms(form, parameter_form)


def _scale_forms(deployment: UseCaseDeployment, data, user) -> ChangeForms:
    rows = [row for row in selectors.deployment_components(deployment=deployment) if not row.is_candidate]
    return ChangeForms(ScaleForm(data, components=rows), extra={"components": rows})


def _rollback_forms(deployment: UseCaseDeployment, data, user) -> ChangeForms:
    revisions = list(selectors.deployment_revisions(deployment=deployment))
    return ChangeForms(RollbackForm(data, revisions=revisions, current=deployment.revision))


def _update_change(forms_: ChangeForms) -> dict:
    return {"parameters": changed_parameters(forms_.parameters), **forms_.form.change()}


def _update_apply(*, user, deployment, change: dict) -> DeploymentRevision:
    return services.deployment_update(
        user=user,
        deployment=deployment,
        parameters=change["parameters"],
        template_version=change.get("template_version"),
    )


def _scale_apply(*, user, deployment, change: dict) -> DeploymentRevision:
    return services.deployment_scale(user=user, deployment=deployment, scale=change["scale"])


def _rollback_apply(*, user, deployment, change: dict) -> DeploymentRevision:
    return services.deployment_rollback(user=user, deployment=deployment, revision=change["rollback_to"])


@dataclass(frozen=True)
class Action:
    name: str
    title: str
    verb: str
    build: object
    change: object
    apply: object


ACTIONS = {
    "update": Action("update", "Update parameters", "Update", _update_forms, _update_change, _update_apply),
    "scale": Action("scale", "Scale", "Scale", _scale_forms, lambda f: f.form.change(), _scale_apply),
    "rollback": Action(
        "rollback", "Roll back", "Roll back", _rollback_forms, lambda f: f.form.change(), _rollback_apply
    ),
}


def _policy_components(deployment) -> list:
    """The scale page also carries the autoscaling policy form (it posts to the autoscaling page)."""
    replicas = autoscaling_selectors.current_replicas(deployment)
    return [(key, form, replicas[key]) for key, form in policy_forms(deployment, None).items()]


def _change_page(request, pk, *, action: Action):
    deployment = _deployment_or_404(request, pk)
    can_write = user_can_write(request.user, deployment.tenant_id)
    if request.method == "POST" and not can_write:
        raise PermissionDenied("Your role in this tenant is read-only.")
    step = request.POST.get("step", PLAN) if request.method == "POST" else EDIT
    forms_ = action.build(deployment, request.POST if request.method == "POST" else None, request.user)
    plan, status = None, 200
    if step in (PLAN, CONFIRM):
        if forms_.is_valid():
            change = action.change(forms_)
            try:
                if step == CONFIRM:
                    revision = action.apply(user=request.user, deployment=deployment, change=change)
                    messages.success(request, f"Revision {revision.number} ({revision.kind}) is rolling out.")
                    return redirect("console:deployment-detail", pk=deployment.pk)
                plan = services.deployment_change_plan(user=request.user, deployment=deployment, change=change)
            except ServiceError as error:
                apply_change_error(error, form=forms_.form, parameters=forms_.parameters)
                status = error.status_code
        else:
            status = 400
    return render(
        request,
        "console/deployments/change.html",
        {
            "deployment": deployment,
            "action": action,
            "forms": forms_,
            "plan": plan,
            "can_write": can_write,
            "closed": deployment.status in (DeploymentStatus.DELETING, DeploymentStatus.DELETED),
            "upgrade_available": selectors.deployment_upgrade_available(deployment),
            "policy_components": _policy_components(deployment) if action.name == "scale" else [],
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_update_page(request, pk):
    """New parameters and/or the template's newer version: the plan, then confirm."""
    return _change_page(request, pk, action=ACTIONS["update"])


@login_required
@require_http_methods(["GET", "POST"])
def deployment_scale_page(request, pk):
    """Replicas per component: the plan, then confirm."""
    return _change_page(request, pk, action=ACTIONS["scale"])


@login_required
@require_http_methods(["GET", "POST"])
def deployment_rollback_page(request, pk):
    """Back to an earlier revision: the plan, then confirm."""
    return _change_page(request, pk, action=ACTIONS["rollback"])


@login_required
@require_http_methods(["POST"])
def deployment_cancel_change_page(request, pk):
    """Cancel the change rolling out (say, a scale waiting for capacity): the running revision serves on."""
    deployment = _deployment_or_404(request, pk)
    try:
        revision = services.deployment_cancel_change(user=request.user, deployment=deployment)
    except ServiceError as error:
        if error.status_code == 403:
            raise PermissionDenied(str(error.detail)) from None
        messages.error(request, str(error.detail))
    else:
        messages.success(request, f"Revision {revision.number} ({revision.kind}) was cancelled.")
    return redirect("console:deployment-detail", pk=deployment.pk)
