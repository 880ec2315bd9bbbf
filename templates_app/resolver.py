"""Template + parameters -> Plan: the components to deploy, merged, rendered and in dependency order.

Pure: no database writes and no network. Component definitions come from `component_defs` when given, else
one read of the active definitions. `check_template` is the same structural validation without parameter
values; the YAML loader and the API use it, so a template that loads always resolves with valid parameters.
"""

from __future__ import annotations

import copy
import graphlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from jsonschema import Draft202012Validator

from core.exceptions import ValidationError
from templates_app.rendering import (
    ExpressionError,
    RenderBudget,
    analyse,
    as_env_value,
    render_value,
    walk_strings,
)

SECRET_MASK = "********"
DEFAULT_MAX_RETRIES = 2
RESOURCE_KEYS = ("gpu_type", "gpu_count", "cpu", "memory_gib", "replicas")
# Parameter values are data, never expressions: this keeps a value from being rendered again at deploy time.
NO_EXPRESSION = {"not": {"pattern": r"\{[{%#]"}}


# --- the Plan ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedComponent:
    """One component of a plan: what to run, with what configuration, after which other components."""

    key: str
    component_ref: str
    component_id: str
    component_version: str
    depends_on: tuple[str, ...]
    job_type: str
    deployment_type: str
    config: dict
    env: dict
    resources: dict
    spec: dict
    outputs: tuple[str, ...]
    model_id: str | None
    output_refs: tuple[tuple[str, str], ...]
    optimize_with_budsim: bool = False
    output_specs: dict = field(default_factory=dict)  # {name: {"protocol", "port", "path"}}
    health_check_path: str = ""

    def to_dict(self) -> dict:
        return {
            "id": self.key,
            "key": self.key,
            "component_ref": self.component_ref,
            "component_id": self.component_id,
            "component_version": self.component_version,
            "depends_on": list(self.depends_on),
            "job_type": self.job_type,
            "deployment_type": self.deployment_type,
            "config": copy.deepcopy(self.config),
            "env": dict(self.env),
            "resources": dict(self.resources),
            "spec": copy.deepcopy(self.spec),
            "outputs": list(self.outputs),
            "output_specs": copy.deepcopy(self.output_specs),
            "model_id": self.model_id,
            "output_refs": [list(ref) for ref in self.output_refs],
            "optimize_with_budsim": self.optimize_with_budsim,
            "health_check_path": self.health_check_path,
        }


@dataclass(frozen=True)
class Plan:
    """A resolved template: validated parameters and the components in start order, grouped in waves."""

    template_id: str
    version: str
    parameters: dict
    components: tuple[PlannedComponent, ...]
    waves: tuple[tuple[str, ...], ...]
    totals: dict
    max_retries: int = DEFAULT_MAX_RETRIES
    secret_parameters: tuple[str, ...] = ()

    def component(self, key: str) -> PlannedComponent:
        for component in self.components:
            if component.key == key:
                return component
        raise KeyError(key)

    def public_parameters(self) -> dict:
        """The parameters with secret values masked, for responses and logs."""
        return {
            name: SECRET_MASK if name in self.secret_parameters and value not in (None, "") else value
            for name, value in self.parameters.items()
        }

    def to_dict(self, *, redact: bool = False) -> dict:
        """The plan as JSON-ready data; `redact` masks secret values wherever they were rendered."""
        data = {
            "template_id": self.template_id,
            "version": self.version,
            "parameters": self.public_parameters() if redact else copy.deepcopy(self.parameters),
            "components": [component.to_dict() for component in self.components],
            "waves": [list(wave) for wave in self.waves],
            "totals": copy.deepcopy(self.totals),
            "max_retries": self.max_retries,
        }
        if redact:
            secrets = [
                str(self.parameters[name])
                for name in self.secret_parameters
                if self.parameters.get(name) not in (None, "")
            ]
            if secrets:
                data["components"] = _mask(data["components"], secrets)
        return data


def mask_secrets(value, secrets: list[str]):
    """`value` (JSON-like) with every occurrence of the given secret values replaced by the mask."""
    secrets = sorted({str(secret) for secret in secrets if secret not in (None, "")}, key=len, reverse=True)
    return _mask(value, secrets) if secrets else value


def _mask(value, secrets: list[str]):
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, SECRET_MASK)
        return value
    if isinstance(value, dict):
        return {key: _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    return value


# --- parameters as JSON Schema -----------------------------------------------------------------------------------

_SCALAR = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}


def parameter_schema(parameter: dict) -> dict:
    """The JSON Schema of one declared parameter."""
    kind = parameter["type"]
    schema: dict = {}
    if parameter.get("label"):
        schema["title"] = parameter["label"]
    if parameter.get("description"):
        schema["description"] = parameter["description"]
    low, high = parameter.get("min"), parameter.get("max")
    if kind in ("string", "model_ref", "secret"):
        schema["type"] = "string"
        schema.update(NO_EXPRESSION)
        if kind == "model_ref":
            schema["minLength"] = max(1, int(low or 1))
            schema["x-parameter-type"] = "model_ref"
        if kind == "secret":
            schema.update({"format": "password", "writeOnly": True, "x-parameter-type": "secret"})
        if low is not None and kind != "model_ref":
            schema["minLength"] = int(low)
        if high is not None:
            schema["maxLength"] = int(high)
        if parameter.get("pattern"):
            schema["pattern"] = parameter["pattern"]
    elif kind in ("integer", "number"):
        schema["type"] = kind
        if low is not None:
            schema["minimum"] = low
        if high is not None:
            schema["maximum"] = high
    elif kind == "boolean":
        schema["type"] = "boolean"
    elif kind == "list":
        item_type = _SCALAR[parameter.get("items", "string")]
        items: dict = {"type": item_type}
        if item_type == "string":
            items.update(NO_EXPRESSION)
        if parameter.get("options"):
            items["enum"] = list(parameter["options"])
        schema.update({"type": "array", "items": items, "uniqueItems": True})
        if low is not None:
            schema["minItems"] = int(low)
        if high is not None:
            schema["maxItems"] = int(high)
    if parameter.get("options") and kind != "list":
        schema["enum"] = list(parameter["options"])
    if "default" in parameter and kind != "secret":
        schema["default"] = copy.deepcopy(parameter["default"])
    return schema


def parameters_schema(template) -> dict:
    """The JSON Schema of a template's parameters: the one the API publishes and `resolve` validates with."""
    content = _content(template)
    parameters = content.get("parameters") or []
    return _schema_for(json.dumps(parameters, sort_keys=True), content.get("name") or content.get("id") or "")


@lru_cache(maxsize=512)
def _schema_cached(parameters_json: str, title: str) -> dict:
    parameters = json.loads(parameters_json)
    required = [p["name"] for p in parameters if p.get("required") and "default" not in p]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Parameters of {title}" if title else "Parameters",
        "type": "object",
        "properties": {p["name"]: parameter_schema(p) for p in parameters},
        "required": required,
        "additionalProperties": False,
    }


def _schema_for(parameters_json: str, title: str) -> dict:
    return copy.deepcopy(_schema_cached(parameters_json, title))


@lru_cache(maxsize=512)
def _validator(parameters_json: str) -> Draft202012Validator:
    return Draft202012Validator(_schema_cached(parameters_json, ""))


def _parameter_errors(validator: Draft202012Validator, values: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if error.validator == "required" and not path:
            for name in error.validator_value:
                if name not in values:
                    errors.setdefault(f"parameters.{name}", ["This parameter is required."])
            continue
        if error.validator == "additionalProperties" and not path:
            allowed = set(error.schema.get("properties", {}))
            for name in values:
                if name not in allowed:
                    errors.setdefault(f"parameters.{name}", ["Unknown parameter."])
            continue
        message = error.message
        if error.validator == "not":
            message = "Template expressions ({{ }}, {% %}) are not allowed in parameter values."
        if error.validator_value is True and error.validator == "writeOnly":
            continue
        errors.setdefault(".".join(["parameters", *map(str, path)]), []).append(message)
    return errors


# --- structure (shared by the loader and resolve) ----------------------------------------------------------------


def _content(template) -> dict:
    if isinstance(template, dict):
        return template
    return template.as_content()


def definitions_index(component_defs: dict) -> dict:
    """{id or alias: definition} from {id_or_alias: definition}."""
    index: dict = {}
    for key, definition in component_defs.items():
        index.setdefault(definition.get("id", key), definition)
        for alias in definition.get("aliases") or ():
            index.setdefault(alias, definition)
        index.setdefault(key, definition)
    return index


def _db_definitions() -> dict:
    from components.selectors import component_definitions_by_ref

    return component_definitions_by_ref()


@dataclass
class _Structure:
    keys: list[str]
    definitions: dict[str, dict]
    depends: dict[str, tuple[str, ...]]
    output_refs: dict[str, tuple[tuple[str, str], ...]]
    order: list[str]
    waves: list[tuple[str, ...]]


def _component_strings(component: dict):
    for name in ("config", "env", "resources"):
        yield from walk_strings(component.get(name) or {}, name)
    for name in ("model_id", "gpu_count", "gpu_type", "replicas"):
        if isinstance(component.get(name), str):
            yield name, component[name]


def _structure(content: dict, index: dict, errors: dict) -> _Structure | None:
    parameters = content.get("parameters") or []
    declared = {p.get("name") for p in parameters}
    seen_names: set = set()
    for i, parameter in enumerate(parameters):
        if parameter.get("name") in seen_names:
            errors.setdefault(f"parameters.{i}.name", []).append(f"duplicate parameter {parameter.get('name')!r}")
        seen_names.add(parameter.get("name"))
        _check_parameter_definition(i, parameter, errors)

    components = content.get("components") or []
    keys = [c.get("id") for c in components]
    definitions: dict[str, dict] = {}
    depends: dict[str, tuple[str, ...]] = {}
    output_refs: dict[str, tuple[tuple[str, str], ...]] = {}
    seen: set = set()
    for i, component in enumerate(components):
        key = component.get("id")
        if key in seen:
            errors.setdefault(f"components.{i}.id", []).append(f"duplicate component id {key!r}")
        seen.add(key)
        definition = index.get(component.get("component_ref"))
        if definition is None:
            errors.setdefault(f"components.{i}.component_ref", []).append(
                f"unknown component {component.get('component_ref')!r}"
            )
        else:
            definitions[key] = definition
    for i, component in enumerate(components):
        key = component.get("id")
        refs: list[tuple[str, str]] = []
        for path, source in _component_strings(component):
            try:
                analysed = analyse(source)
            except ExpressionError as exc:
                errors.setdefault(f"components.{i}.{path}", []).append(str(exc))
                continue
            for name in sorted(analysed.parameters - declared):
                errors.setdefault(f"components.{i}.{path}", []).append(f"undefined parameter {name!r}")
            for upstream, output in analysed.output_refs:
                if upstream not in keys:
                    errors.setdefault(f"components.{i}.{path}", []).append(f"undefined component {upstream!r}")
                elif upstream == key:
                    errors.setdefault(f"components.{i}.{path}", []).append("a component cannot use its own outputs")
                elif upstream in definitions:
                    names = [o["name"] for o in definitions[upstream].get("outputs") or ()]
                    if output not in names:
                        errors.setdefault(f"components.{i}.{path}", []).append(
                            f"component {upstream!r} ({definitions[upstream]['id']}) has no output {output!r}; "
                            f"it declares {', '.join(names) or 'none'}"
                        )
                refs.append((upstream, output))
        for j, upstream in enumerate(component.get("depends_on") or ()):
            if upstream not in keys:
                errors.setdefault(f"components.{i}.depends_on.{j}", []).append(f"undefined component {upstream!r}")
        output_refs[key] = tuple(dict.fromkeys(refs))
        explicit = set(component.get("depends_on") or ())
        depends[key] = tuple(sorted(explicit | {upstream for upstream, _ in refs}))
        if key in definitions:
            _check_required_inputs(i, component, definitions[key], errors)
    if errors:
        return None
    position = {key: i for i, key in enumerate(keys)}
    sorter = graphlib.TopologicalSorter({key: depends[key] for key in keys})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        errors.setdefault("components", []).append(f"dependency cycle: {' -> '.join(cycle)}")
        return None
    waves: list[tuple[str, ...]] = []
    while sorter.is_active():
        wave = tuple(sorted(sorter.get_ready(), key=position.__getitem__))
        waves.append(wave)
        sorter.done(*wave)
    order = [key for wave in waves for key in wave]
    return _Structure(keys, definitions, depends, output_refs, order, waves)


def _check_parameter_definition(i: int, parameter: dict, errors: dict) -> None:
    if parameter.get("type") not in ("string", "integer", "number", "boolean", "model_ref", "list", "secret"):
        return
    try:
        schema = parameter_schema(parameter)
    except (KeyError, TypeError, ValueError) as exc:
        errors.setdefault(f"parameters.{i}", []).append(f"invalid parameter: {exc}")
        return
    if isinstance(parameter.get("pattern"), str):
        # jsonschema compiles `pattern` lazily, so a bad one would only blow up while validating a value.
        try:
            re.compile(parameter["pattern"])
        except re.error as exc:
            errors.setdefault(f"parameters.{i}.pattern", []).append(f"not a valid regex: {exc}")
            return
    validator = Draft202012Validator(schema)
    if "default" in parameter and parameter.get("type") != "secret":
        for error in validator.iter_errors(parameter["default"]):
            errors.setdefault(f"parameters.{i}.default", []).append(error.message)
    for j, option in enumerate(parameter.get("options") or ()):
        item_schema = (
            schema["items"] if parameter["type"] == "list" else {k: v for k, v in schema.items() if k != "enum"}
        )
        for error in Draft202012Validator(item_schema).iter_errors(option):
            errors.setdefault(f"parameters.{i}.options.{j}", []).append(error.message)


def _check_required_inputs(i: int, component: dict, definition: dict, errors: dict) -> None:
    env = {**(definition.get("default_env") or {}), **(component.get("env") or {})}
    for name in definition.get("config_env") or {}:
        env.setdefault(name, "from-config")
    for required in definition.get("required_inputs") or ():
        if env.get(required["name"]) in (None, ""):
            errors.setdefault(f"components.{i}.env.{required['name']}", []).append(
                f"required input of {definition['id']} is not set"
            )


def check_template(content: dict, *, component_defs: dict | None = None) -> dict[str, list[str]]:
    """Structural problems of a template (unknown refs, cycles, undefined parameters/components/outputs,
    bad defaults) as {field.path: [reason]}; empty when it is sound."""
    errors: dict[str, list[str]] = {}
    index = definitions_index(component_defs if component_defs is not None else _db_definitions())
    _structure(content, index, errors)
    return errors


def template_graph(template, *, component_defs: dict | None = None) -> dict:
    """A template's component graph without parameter values (what a catalogue page draws):
    {"waves": [[key, ...], ...], "depends_on": {key: [upstream, ...]}, "components": {key: component id}}.
    Raises ValidationError when the template is structurally unsound."""
    content = _content(template)
    index = definitions_index(component_defs if component_defs is not None else _db_definitions())
    errors: dict[str, list[str]] = {}
    structure = _structure(content, index, errors)
    if structure is None:
        raise ValidationError(errors, detail="The template is invalid.")
    return {
        "waves": [list(wave) for wave in structure.waves],
        "depends_on": {key: list(structure.depends[key]) for key in structure.order},
        "components": {key: structure.definitions[key]["id"] for key in structure.order},
    }


# --- resolve -----------------------------------------------------------------------------------------------------


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict: `override` merged into `base`, recursively for nested dicts (lists are replaced)."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _number(value, path: str, errors: dict, *, integer: bool):
    if value is None:
        return 0
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < 0 or (integer and not number.is_integer()):
        kind = "a non-negative integer" if integer else "a non-negative number"
        errors.setdefault(path, []).append(f"must be {kind}, got {value!r}")
        return 0
    if integer or number.is_integer():
        return int(number)
    return number


def _resources(raw: dict, path: str, errors: dict) -> dict:
    resources = {
        "gpu_type": raw.get("gpu_type") or None,
        "gpu_count": _number(raw.get("gpu_count"), f"{path}.gpu_count", errors, integer=True),
        "cpu": _number(raw.get("cpu"), f"{path}.cpu", errors, integer=False),
        "memory_gib": _number(raw.get("memory_gib"), f"{path}.memory_gib", errors, integer=False),
        "replicas": _number(raw.get("replicas", 1), f"{path}.replicas", errors, integer=True),
    }
    if resources["gpu_count"] == 0:
        resources["gpu_type"] = None
    elif not resources["gpu_type"]:
        errors.setdefault(f"{path}.gpu_type", []).append("a GPU component needs a gpu_type")
    elif not isinstance(resources["gpu_type"], str):
        errors.setdefault(f"{path}.gpu_type", []).append("must be a string")
    if resources["replicas"] < 1 and f"{path}.replicas" not in errors:
        errors.setdefault(f"{path}.replicas", []).append("must be at least 1")
    return resources


def _cli_flags(config: dict) -> list[str]:
    flags = []
    for key, value in config.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (dict, list)):
            flags.append(f"{flag}={json.dumps(value, separators=(',', ':'))}")
        else:
            flags.append(f"{flag}={value}")
    return flags


def _spec(definition: dict, config: dict, env: dict, model_id: str | None) -> dict:
    kind = definition["deployment_type"]
    health = definition.get("health_check_path") or ""
    if kind == "HELM":
        return {
            "kind": "helm",
            "repo": definition.get("helm_repo", ""),
            "chart": definition.get("helm_chart", ""),
            "version": definition.get("helm_version", ""),
            "values": config,
            "port": definition.get("port"),
            "health_check_path": health,
        }
    image = definition.get("image", "")
    tag = definition.get("image_tag", "")
    if kind == "MODEL":
        return {
            "kind": "model",
            "model_id": model_id,
            "image": f"{image}:{tag}" if tag else image,
            "port": definition.get("port"),
            "env": env,
            # A model server's config becomes its command-line flags (max_model_len -> --max-model-len=8192),
            # the list of container arguments the job layer expects; the mapping stays readable in `config`.
            "args": _cli_flags(config),
            "config": config,
            "health_check_path": health,
        }
    return {
        "kind": "docker",
        "image": image,
        "tag": tag,
        "env": env,
        "port": definition.get("port"),
        "health_check_path": health,
    }


def _planned(
    i: int,
    key: str,
    component: dict,
    definition: dict,
    structure: _Structure,
    ctx: dict,
    errors: dict,
    budget: RenderBudget,
):
    base = f"components.{i}"
    config = render_value(
        deep_merge(definition.get("default_values") or {}, component.get("config") or {}),
        ctx,
        keep_components=True,
        path=f"{base}.config",
        errors=errors,
        budget=budget,
    )
    raw_env = {**(definition.get("default_env") or {}), **(component.get("env") or {})}
    env = render_value(raw_env, ctx, keep_components=True, path=f"{base}.env", errors=errors, budget=budget)
    env = {name: as_env_value(value) for name, value in env.items()}
    for name, config_key in (definition.get("config_env") or {}).items():
        if name not in env and config.get(config_key) is not None:
            env[name] = as_env_value(config[config_key])
    raw_resources = {**(definition.get("default_resources") or {}), **(component.get("resources") or {})}
    for name in ("gpu_count", "gpu_type", "replicas"):
        if name in component:
            raw_resources[name] = component[name]
    raw_resources = render_value(
        raw_resources, ctx, keep_components=False, path=f"{base}.resources", errors=errors, budget=budget
    )
    resources = _resources(raw_resources, f"{base}.resources", errors)
    model_id = component.get("model_id")
    if model_id is not None:
        model_id = render_value(
            model_id, ctx, keep_components=False, path=f"{base}.model_id", errors=errors, budget=budget
        )
    elif definition["deployment_type"] == "MODEL":
        model_id = config.get("model_id")
    if definition["deployment_type"] == "MODEL" and not model_id and f"{base}.model_id" not in errors:
        errors.setdefault(f"{base}.model_id", []).append(f"{definition['id']} serves a model: model_id is required")
    outputs = tuple(o["name"] for o in definition.get("outputs") or ())
    return PlannedComponent(
        key=key,
        component_ref=component["component_ref"],
        component_id=definition["id"],
        component_version=str(definition.get("version", "")),
        depends_on=structure.depends[key],
        job_type=component.get("job_type") or definition.get("job_type") or "SERVICE",
        deployment_type=definition["deployment_type"],
        config=config,
        env=env,
        resources=resources,
        spec=_spec(definition, copy.deepcopy(config), dict(env), model_id if isinstance(model_id, str) else None),
        outputs=outputs,
        model_id=str(model_id) if model_id else None,
        output_refs=structure.output_refs[key],
        optimize_with_budsim=bool(component.get("optimize_with_budsim", False)),
        output_specs={
            o["name"]: {"protocol": o["protocol"], "port": o["port"], "path": o.get("path", "")}
            for o in definition.get("outputs") or ()
        },
        health_check_path=definition.get("health_check_path") or "",
    )


def _totals(components) -> dict:
    gpus: dict[str, int] = {}
    cpu = 0.0
    memory = 0.0
    for component in components:
        resources = component.resources
        replicas = resources["replicas"]
        if resources["gpu_count"]:
            gpus[resources["gpu_type"]] = gpus.get(resources["gpu_type"], 0) + resources["gpu_count"] * replicas
        cpu += resources["cpu"] * replicas
        memory += resources["memory_gib"] * replicas
    return {
        "gpus": dict(sorted(gpus.items())),
        "cpu": int(cpu) if cpu.is_integer() else round(cpu, 3),
        "memory_gib": int(memory) if memory.is_integer() else round(memory, 3),
    }


def resolve(template, parameters: dict, *, component_defs: dict | None = None) -> Plan:
    """Validate `parameters` against the template's schema and build the Plan; ValidationError names each problem."""
    content = _content(template)
    template_id = getattr(template, "api_id", None) or content.get("id") or ""
    index = definitions_index(component_defs if component_defs is not None else _db_definitions())
    errors: dict[str, list[str]] = {}
    structure = _structure(content, index, errors)
    if structure is None:
        raise ValidationError(errors, detail="The template is invalid.")

    declared = content.get("parameters") or []
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError({"parameters": ["Must be an object."]})
    parameters = dict(parameters or {})
    parameter_errors = _parameter_errors(_validator(json.dumps(declared, sort_keys=True)), parameters)
    if parameter_errors:
        raise ValidationError(parameter_errors)
    values = copy.deepcopy(parameters)
    for parameter in declared:
        if parameter["name"] not in values and "default" in parameter:
            values[parameter["name"]] = copy.deepcopy(parameter["default"])
    ctx = {"parameters": {p["name"]: values.get(p["name"]) for p in declared}}

    by_key = {component["id"]: (i, component) for i, component in enumerate(content["components"])}
    budget = RenderBudget()
    planned = []
    for key in structure.order:
        i, component = by_key[key]
        planned.append(_planned(i, key, component, structure.definitions[key], structure, ctx, errors, budget))
    if errors:
        raise ValidationError(errors)
    components = tuple(planned)
    return Plan(
        template_id=str(template_id),
        version=str(content.get("version", "")),
        parameters=values,
        components=components,
        waves=tuple(structure.waves),
        totals=_totals(components),
        max_retries=int(content.get("max_retries", DEFAULT_MAX_RETRIES)),
        secret_parameters=tuple(p["name"] for p in declared if p.get("type") == "secret"),
    )


def render_component_refs(value, outputs_by_key: dict[str, dict]):
    """Deploy time: render the remaining {{ components['x'].outputs.y }} in a str/dict/list from upstream outputs.

    A missing output (or upstream) raises ValidationError naming the path of the string."""
    ctx = {"components": {key: {"outputs": dict(outputs or {})} for key, outputs in outputs_by_key.items()}}
    errors: dict[str, list[str]] = {}
    rendered = _render_refs(value, ctx, "", errors, RenderBudget())
    if errors:
        raise ValidationError(errors, detail="An upstream output is missing.")
    return rendered


def _render_refs(value, ctx: dict, path: str, errors: dict, budget: RenderBudget):
    if isinstance(value, str):
        try:
            if not analyse(value).has_component_refs:
                return value
        except ExpressionError:
            return value
        return render_value(value, ctx, keep_components=False, path=path or "value", errors=errors, budget=budget)
    if isinstance(value, dict):
        return {
            key: _render_refs(item, ctx, f"{path}.{key}" if path else str(key), errors, budget)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _render_refs(item, ctx, f"{path}.{i}" if path else str(i), errors, budget) for i, item in enumerate(value)
        ]
    return value
