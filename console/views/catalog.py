"""The template catalogue, a template's detail and the deploy wizard with its live preview."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.dag import layout
from console.forms import DeployTargetForm, ParameterForm, apply_service_error
from console.selectors import model_suggestions, usecase_options
from console.sizing_chart import sized_components
from core.exceptions import NotFound, ServiceError
from deployments import services as deployment_services
from templates_app.filters import TemplateFilterSet
from templates_app.models import UseCaseTemplate
from templates_app.parameters import parameters_schema
from templates_app.resolver import resolve
from templates_app.selectors import template_get_for_user, template_list
from templates_app.structure import template_graph
from tenancy.selectors import writable_tenant_ids


def _template_or_404(request, template_id: str) -> UseCaseTemplate:
    try:
        return template_get_for_user(user=request.user, template_id=template_id)
    except NotFound:
        raise Http404("No such template.") from None


def _can_deploy(user) -> bool:
    return user.is_superuser or bool(writable_tenant_ids(user))


@login_required
def template_list_page(request):
    """Template cards, filtered by category and tags, searched by text."""
    templates = template_list(user=request.user).filter(is_active=True)
    all_tags = sorted({tag for tags in templates.values_list("tags", flat=True) for tag in tags or ()})
    filterset = TemplateFilterSet(request.GET, queryset=templates)
    errors = None if filterset.is_valid() else filterset.errors
    return render(
        request,
        "console/usecases/list.html",
        {
            "templates": [] if errors else list(filterset.qs),
            "errors": errors,
            "categories": UseCaseTemplate.Category.choices,
            "selected_categories": request.GET.getlist("category"),
            "all_tags": all_tags,
            "selected_tags": [t.strip() for t in request.GET.get("tags", "").split(",") if t.strip()],
            "q": request.GET.get("q", ""),
        },
    )


def _template_graph(template: UseCaseTemplate) -> dict:
    try:
        return template_graph(template)
    except ServiceError:
        return {}


@login_required
def template_detail_page(request, template_id: str):
    """A template: description, component graph, parameters and the way to deploy it."""
    template = _template_or_404(request, template_id)
    graph = _template_graph(template)
    depends_on = graph.get("depends_on", {})
    components = [
        {**component, "needs": depends_on.get(component["id"], component.get("depends_on") or [])}
        for component in template.components
    ]
    schema = parameters_schema(template)
    required = set(schema["required"])
    parameters = [
        {
            "name": name,
            "schema": prop,
            "type": prop.get("x-parameter-type") or prop.get("type"),
            "required": name in required,
            "has_default": "default" in prop,
        }
        for name, prop in schema["properties"].items()
    ]
    return render(
        request,
        "console/usecases/detail.html",
        {
            "template": template,
            "graph": layout(graph["waves"], depends_on, labels=graph["components"]) if graph else None,
            "components": components,
            "parameters": parameters,
            "can_deploy": _can_deploy(request.user),
        },
    )


def _check_all(template, target: DeployTargetForm, parameter_form: ParameterForm) -> bool:
    """Both forms valid. When "where" is not, the parameters are still checked against the template (a pure
    resolve, nothing written), so every problem shows on the first submit rather than one group per submit."""
    target_ok = target.is_valid()
    if not parameter_form.is_valid() or target_ok:
        return target_ok and parameter_form.is_valid()
    try:
        resolve(template, parameter_form.parameters())
    except ServiceError as error:
        apply_service_error(error, target=target, parameters=parameter_form)
    return False


def _wizard_forms(request, template):
    data = request.POST if request.method == "POST" else None
    initial = {"usecase_id": request.GET.get("usecase_id", "")[:100]} if data is None else {}
    target = DeployTargetForm(data, user=request.user, initial=initial)
    parameter_form = ParameterForm(
        data, schema=parameters_schema(template), models=model_suggestions(user=request.user)
    )
    return target, parameter_form


@login_required
@require_http_methods(["GET", "POST"])
def deploy_wizard(request, template_id: str):
    """Choose project, cluster and parameters, see the preview, confirm: the deployment is created by the same
    service the API calls; its errors are shown next to their field."""
    template = _template_or_404(request, template_id)
    target, parameter_form = _wizard_forms(request, template)
    status = 200
    if request.method == "POST":
        if _check_all(template, target, parameter_form):
            data = target.cleaned_data
            try:
                deployment, _ = deployment_services.deployment_create(
                    user=request.user,
                    template=template,
                    project=data["project"],
                    parameters=parameter_form.parameters(),
                    name=data["name"],
                    **target.placement_inputs(),
                    idempotency_key=data["idempotency_key"] or None,
                    **target.sizing_inputs(),
                )
            except ServiceError as error:
                apply_service_error(error, target=target, parameters=parameter_form)
            else:
                return redirect("console:deployment-detail", pk=deployment.pk)
        status = 400
    return render(
        request,
        "console/usecases/deploy.html",
        {
            "template": template,
            "target": target,
            "parameter_form": parameter_form,
            "can_deploy": _can_deploy(request.user),
            "usecase_options": usecase_options(),
        },
        status=status,
    )


@login_required
@require_POST
def deploy_preview(request, template_id: str):
    """The wizard's live preview (an htmx fragment): start order, GPUs, capacity and hourly cost, nothing written."""
    template = _template_or_404(request, template_id)
    target, parameter_form = _wizard_forms(request, template)
    preview = graph = None
    sized: list[dict] = []
    if _check_all(template, target, parameter_form):
        data = target.cleaned_data
        try:
            preview = deployment_services.deployment_preview(
                user=request.user,
                template=template,
                project=data["project"],
                parameters=parameter_form.parameters(),
                **target.placement_inputs(),
                **target.sizing_inputs(),
            )
        except ServiceError as error:
            apply_service_error(error, target=target, parameters=parameter_form)
        else:
            sized = sized_components(preview["sizing"])
            components = preview["plan"]["components"]
            graph = layout(
                preview["waves"],
                {c["key"]: c["depends_on"] for c in components},
                labels={c["key"]: c["component_id"] for c in components},
            )
    problems = _problems(target, parameter_form)
    return render(
        request,
        "console/usecases/_preview.html",
        {"preview": preview, "graph": graph, "problems": problems, "template": template, "sized": sized},
    )


def _problems(target, parameter_form) -> list[tuple[str, str, str]]:
    """(input id, label, message) for every error, so the preview can link each one to its input."""
    rows = []
    for form in (target, parameter_form):
        for name, messages in form.errors.items():
            if name == "__all__":
                rows.extend(("", "", message) for message in messages)
                continue
            bound = form[name]
            rows.extend((bound.id_for_label, bound.label, message) for message in messages)
    return rows
