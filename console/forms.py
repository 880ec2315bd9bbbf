"""Forms of the console. They parse input and show errors; every rule is checked by the services they call.

The deploy wizard's parameter form is generated from the template's JSON Schema
(templates_app.parameters.parameters_schema). Its fields coerce types only; required parameters, ranges, patterns and
options are enforced by the resolver, whose errors ("parameters.<name>") are put back next to their field.
"""

from __future__ import annotations

import uuid

from django import forms

from core.exceptions import ServiceError
from jobs.models import ClusterSet
from jobs.selectors import cluster_list, cluster_set_list
from tenancy.selectors import project_list, writable_tenant_ids

PARAMETER_PREFIX = "parameters"
# Where a service's error path belongs on the target form.
TARGET_FIELDS = {
    "project_id": "project",
    "cluster_id": "cluster",
    "cluster_set_id": "cluster_set",
    "strategy": "strategy",
    "name": "name",
    "usecase_id": "usecase_id",
    "load.concurrency": "load_users",
    "load.requests_per_second": "load_rps",
}
MAX_USERS = 1_000_000


class DeployTargetForm(forms.Form):
    """Where to deploy: a project the user may write in and a cluster of the user's tenants."""

    name = forms.CharField(
        max_length=200, required=False, help_text="Optional; a name is generated from the template when empty."
    )
    project = forms.ModelChoiceField(queryset=None, empty_label="Choose a project")
    cluster = forms.ModelChoiceField(queryset=None, empty_label="Choose a cluster", required=False)
    cluster_set = forms.ModelChoiceField(
        queryset=None,
        empty_label="— or a cluster set —",
        required=False,
        label="Cluster set",
        help_text="Instead of a cluster: the set's member where the stack starts first (or costs least) takes it.",
    )
    strategy = forms.ChoiceField(
        choices=[("", "The set's default"), *ClusterSet.Strategy.choices],
        required=False,
        label="Choose the member by",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)
    usecase_id = forms.CharField(
        label="Use case",
        max_length=100,
        required=False,
        help_text="Type to search the SLO catalog. Each LLM the template marks for sizing is sized to its SLOs.",
        widget=forms.TextInput(attrs={"list": "usecase-options", "autocomplete": "off", "spellcheck": "false"}),
    )
    load_users = forms.IntegerField(
        label="Expected concurrent users",
        min_value=1,
        max_value=MAX_USERS,
        required=False,
        help_text="With a use case: the load to size for (one user when empty).",
    )
    load_rps = forms.FloatField(label="or requests per second", min_value=0.001, max_value=MAX_USERS, required=False)

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", str(uuid.uuid4()))
        super().__init__(*args, **kwargs)
        projects = project_list(user=user).order_by("tenant__name", "name")
        if not user.is_superuser:
            projects = projects.filter(tenant_id__in=writable_tenant_ids(user))
        self.fields["project"].queryset = projects
        self.fields["project"].label_from_instance = lambda p: f"{p.name} ({p.tenant.name})"
        self.fields["cluster"].queryset = cluster_list(user=user).order_by("tenant__name", "name")
        self.fields["cluster"].label_from_instance = lambda c: f"{c.name} ({c.tenant.name}, {c.driver}, {c.status})"
        clusters = self.fields["cluster"].queryset
        self.fields["cluster_set"].queryset = cluster_set_list(user=user).order_by("tenant__name", "name")
        self.fields["cluster_set"].label_from_instance = lambda s: (
            f"{s.name} ({s.tenant.name}, {s.get_strategy_display()})"
        )
        # With one choice there is nothing to choose: preselect it.
        if len(projects) == 1:
            self.fields["project"].initial = projects[0].pk
        if len(clusters) == 1 and not self.fields["cluster_set"].queryset.exists():
            self.fields["cluster"].initial = clusters[0].pk

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("cluster")) == bool(cleaned.get("cluster_set")) and "cluster" not in self.errors:
            self.add_error("cluster", "Choose a cluster or a cluster set (one of them).")
        if cleaned.get("strategy") and not cleaned.get("cluster_set"):
            self.add_error("strategy", "A strategy chooses among a cluster set's members.")
        if cleaned.get("load_users") and cleaned.get("load_rps"):
            self.add_error("load_rps", "Give concurrent users or requests per second, not both.")
        return cleaned

    def placement_inputs(self) -> dict:
        """The cluster, or the cluster set and its strategy, for the deployment services."""
        data = self.cleaned_data
        if data.get("cluster_set"):
            return {"cluster_set": data["cluster_set"], "strategy": data.get("strategy") or None}
        return {"cluster": data["cluster"]}

    def sizing_inputs(self) -> dict:
        """The use case and load for the deployment services ({} when no use case is chosen)."""
        data = self.cleaned_data
        if not data.get("usecase_id"):
            return {}
        if data.get("load_rps"):
            load = {"requests_per_second": data["load_rps"]}
        else:
            load = {"concurrency": data.get("load_users") or 1}
        return {"usecase_id": data["usecase_id"].strip(), "load": load}


def _coerce_item(kind: str):
    return {"integer": int, "number": float}.get(kind, str)


class CommaListField(forms.CharField):
    """A list parameter without options, typed as comma-separated values."""

    def __init__(self, *, item_type: str = "string", **kwargs):
        self.item_type = item_type
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(map(str, value)) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        text = super().to_python(value)
        items = [part.strip() for part in (text or "").split(",") if part.strip()]
        try:
            return [_coerce_item(self.item_type)(item) for item in items]
        except ValueError:
            raise forms.ValidationError(f"Each item must be a {self.item_type}.") from None


def _field_for(name: str, schema: dict, *, required: bool) -> forms.Field:
    label = schema.get("title") or name
    common = {"label": label, "required": False, "help_text": schema.get("description", "")}
    attrs: dict = {"required": True, "aria-required": "true"} if required else {}
    kind = schema.get("type")
    default = schema.get("default")
    if kind == "array":
        items = schema.get("items") or {}
        if "enum" in items:
            return forms.TypedMultipleChoiceField(
                choices=[(str(v), str(v)) for v in items["enum"]],
                coerce=_coerce_item(items.get("type", "string")),
                widget=forms.CheckboxSelectMultiple,
                initial=[str(v) for v in default or []],
                **common,
            )
        field = CommaListField(item_type=items.get("type", "string"), initial=default, **common)
        field.widget.attrs.update(attrs, placeholder="comma-separated")
        return field
    if "enum" in schema:
        choices = [(str(v), str(v)) for v in schema["enum"]]
        if default is None:
            choices = [("", "Choose…"), *choices]
        return forms.TypedChoiceField(
            choices=choices,
            coerce=_coerce_item(kind),
            empty_value=None,
            initial=None if default is None else str(default),
            widget=forms.Select(attrs=attrs),
            **common,
        )
    if kind == "boolean":
        return forms.BooleanField(initial=bool(default), **common)
    if kind in ("integer", "number"):
        bounds = {key: schema[key] for key in ("minimum", "maximum") if key in schema}
        widget = forms.NumberInput(attrs={**attrs, **{k[:3]: v for k, v in bounds.items()}})
        if kind == "number":
            widget.attrs["step"] = "any"
            return forms.FloatField(initial=default, widget=widget, **common)
        return forms.IntegerField(initial=default, widget=widget, **common)
    if schema.get("x-parameter-type") == "secret":
        return forms.CharField(widget=forms.PasswordInput(attrs={**attrs, "autocomplete": "new-password"}), **common)
    text_attrs = {**attrs}
    if schema.get("x-parameter-type") == "text":
        if "maxLength" in schema:
            text_attrs["maxlength"] = schema["maxLength"]
        return forms.CharField(initial=default, widget=forms.Textarea(attrs={**text_attrs, "rows": 6}), **common)
    if "maxLength" in schema:
        text_attrs["maxlength"] = schema["maxLength"]
    if schema.get("x-parameter-type") == "model_ref":
        text_attrs.update(placeholder="e.g. meta-llama/Llama-3.1-8B-Instruct", autocomplete="off")
    return forms.CharField(initial=default, widget=forms.TextInput(attrs=text_attrs), strip=True, **common)


class ParameterForm(forms.Form):
    """A form whose fields are a template's parameters; `parameters()` gives the dict the resolver takes."""

    def __init__(self, *args, schema: dict, models: list[str] = (), **kwargs):
        kwargs.setdefault("prefix", PARAMETER_PREFIX)
        super().__init__(*args, **kwargs)
        self.schema = schema
        required = set(schema.get("required") or ())
        for name, prop in (schema.get("properties") or {}).items():
            field = _field_for(name, prop, required=name in required)
            field.is_required_parameter = name in required
            field.parameter_type = prop.get("x-parameter-type") or prop.get("type", "")
            if field.parameter_type == "model_ref" and models:
                # a free-text input that offers the known models (a <datalist>), since any model id is allowed
                field.suggestions = list(models)
                field.widget.attrs["list"] = f"id_{self.prefix}-{name}_suggestions"
            self.fields[name] = field

    def parameters(self) -> dict:
        """Values the user gave; empty inputs are left out, so the template's defaults apply."""
        values = {}
        for name, value in self.cleaned_data.items():
            if value in (None, ""):
                continue
            values[name] = value
        return values


def apply_service_error(error: ServiceError, *, target: forms.Form, parameters: ParameterForm) -> None:
    """Put a service's errors next to their field: "parameters.<name>[.…]" on the parameter input,
    "project_id"/"cluster_id"/"name" on the target form, anything else at the top of the form."""
    if not error.errors:
        target.add_error(None, error.detail)
        return
    for path, messages in error.errors.items():
        head, _, rest = path.partition(".")
        if head == PARAMETER_PREFIX and rest:
            name = rest.split(".")[0]
            if name in parameters.fields:
                parameters.add_error(name, list(messages))
                continue
        if path in TARGET_FIELDS:
            target.add_error(TARGET_FIELDS[path], list(messages))
            continue
        target.add_error(None, [f"{path}: {message}" for message in messages])


# --- changes to a running deployment (update parameters, scale, roll back) ------------------------------------------


class UpdateForm(forms.Form):
    """The template version to run: the current one, or the newer one when an upgrade is available."""

    template_version = forms.ChoiceField(label="Template version")

    def __init__(self, *args, current: str, upgrade: str | None, **kwargs):
        kwargs.setdefault("initial", {"template_version": current})
        super().__init__(*args, **kwargs)
        choices = [(current, f"{current} (current)")]
        if upgrade:
            choices.append((upgrade, f"{upgrade} (upgrade available)"))
        self.fields["template_version"].choices = choices

    def change(self) -> dict:
        return {"template_version": self.cleaned_data["template_version"]} if self.has_changed() else {}


def parameter_initial(parameter_form: ParameterForm, public: dict) -> dict:
    """The deployment's current public parameters as a parameter form's initial data; secrets stay empty, which
    means "unchanged" (the masked value is not a value)."""
    return {
        name: value
        for name, value in public.items()
        if name in parameter_form.fields and parameter_form.fields[name].parameter_type != "secret"
    }


def changed_parameters(parameter_form: ParameterForm) -> dict:
    """Only the parameters the user changed: the service merges them onto the current ones."""
    return {name: parameter_form.cleaned_data[name] for name in parameter_form.changed_data}


class ScaleForm(forms.Form):
    """Replicas per component, pre-filled from what runs now; the service checks the range."""

    def __init__(self, *args, components, **kwargs):
        super().__init__(*args, **kwargs)
        for row in components:
            resources = row.resources or {}
            self.fields[row.key] = forms.IntegerField(
                label=row.key,
                required=False,
                initial=resources.get("replicas", 1),
                help_text=f"{row.component_id}, replicas now {resources.get('replicas', 1)}",
                widget=forms.NumberInput(attrs={"min": 1}),
            )

    def change(self) -> dict:
        return {"scale": {key: {"replicas": self.cleaned_data[key]} for key in self.changed_data}}


class RollbackForm(forms.Form):
    """Which earlier revision to return to."""

    revision = forms.TypedChoiceField(label="Roll back to revision", coerce=int)

    def __init__(self, *args, revisions, current: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["revision"].choices = [
            (
                revision.number,
                f"{revision.number} · {revision.kind} · {revision.status} · template {revision.template_version}"
                + (f" · by {revision.created_by.username}" if revision.created_by else ""),
            )
            for revision in revisions
            if revision.number != current
        ]

    def change(self) -> dict:
        return {"rollback_to": self.cleaned_data["revision"]}


# Where a change service's error path belongs: "<head>.<field>…" on the form of that head, or a field by its path.
CHANGE_ERROR_FIELDS = {"rollback_to": "revision", "template_version": "template_version"}


def apply_change_error(error: ServiceError, *, form: forms.Form, parameters: ParameterForm | None = None) -> None:
    """Put a change service's errors next to their field: "parameters.<name>" on the parameter input,
    "scale.<key>[.replicas]" on that component's replicas, "rollback_to" on the revision select, the rest (and a
    conflict's message) above the form."""
    if not error.errors:
        form.add_error(None, error.detail)
        return
    for path, messages in error.errors.items():
        head, _, rest = path.partition(".")
        name = rest.split(".")[0] if rest else ""
        if head == PARAMETER_PREFIX and parameters is not None and name in parameters.fields:
            parameters.add_error(name, list(messages))
        elif head == "scale" and name in form.fields:
            form.add_error(name, list(messages))
        elif CHANGE_ERROR_FIELDS.get(path) in form.fields:
            form.add_error(CHANGE_ERROR_FIELDS[path], list(messages))
        elif path == "non_field_errors":
            form.add_error(None, list(messages))
        else:
            form.add_error(None, [f"{path}: {message}" for message in messages])
