"""Template + parameters -> Plan: the components to deploy, merged, rendered and in dependency order.

Pure apart from one read: component definitions come from `component_defs` when given, else one read of the
active definitions. The plan types are in `plans`, the parameters' schema in `parameters`, the structural checks
(shared with the YAML loader) in `structure`, and deploy-time rendering of output references in `rendering`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

from core.exceptions import ValidationError
from core.job_specs import job_spec, with_config
from core.resources import gpu_totals
from templates_app.parameters import parameter_errors, parameters_validator
from templates_app.plans import DEFAULT_MAX_RETRIES, Plan, PlannedComponent, template_content_of
from templates_app.rendering import RenderBudget, as_env_value, render_value
from templates_app.routing import resolved_routing
from templates_app.structure import Structure, db_definitions, definitions_index, structure_of


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


def _spec(definition: dict, config: dict, env: dict, model_id: str | None) -> dict:
    return job_spec(
        deployment_type=definition["deployment_type"],
        config=config,
        env=env,
        model_id=model_id,
        image=definition.get("image", ""),
        image_tag=definition.get("image_tag", ""),
        port=definition.get("port"),
        health_check_path=definition.get("health_check_path") or "",
        helm_repo=definition.get("helm_repo", ""),
        helm_chart=definition.get("helm_chart", ""),
        helm_version=definition.get("helm_version", ""),
    )


def _planned(
    i: int,
    key: str,
    component: dict,
    definition: dict,
    structure: Structure,
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
    cpu = 0.0
    memory = 0.0
    for component in components:
        resources = component.resources
        cpu += resources["cpu"] * resources["replicas"]
        memory += resources["memory_gib"] * resources["replicas"]
    return {
        "gpus": gpu_totals(component.resources for component in components),
        "cpu": int(cpu) if cpu.is_integer() else round(cpu, 3),
        "memory_gib": int(memory) if memory.is_integer() else round(memory, 3),
    }


def component_with_resources(component: PlannedComponent, resources: dict, config: dict) -> PlannedComponent:
    """The component with other resources and server config (placement, sizing): a model server's arguments follow
    its config, as they do when it is resolved."""
    spec = with_config(component.spec, config)
    return replace(component, resources=dict(resources), config=copy.deepcopy(config), spec=spec)


def plan_with_components(plan: Plan, components) -> Plan:
    """The plan with these components (same keys and order) and the totals they add up to."""
    components = tuple(components)
    return replace(plan, components=components, totals=_totals(components))


def resolve(template, parameters: dict, *, component_defs: dict | None = None) -> Plan:
    """Validate `parameters` against the template's schema and build the Plan; ValidationError names each problem."""
    content = template_content_of(template)
    template_id = getattr(template, "api_id", None) or content.get("id") or ""
    index = definitions_index(component_defs if component_defs is not None else db_definitions())
    errors: dict[str, list[str]] = {}
    structure = structure_of(content, index, errors)
    if structure is None:
        raise ValidationError(errors, detail="The template is invalid.")

    declared = content.get("parameters") or []
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError({"parameters": ["Must be an object."]})
    parameters = dict(parameters or {})
    invalid = parameter_errors(parameters_validator(json.dumps(declared, sort_keys=True)), parameters)
    if invalid:
        raise ValidationError(invalid)
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
        routing=resolved_routing(content.get("routing"), waves=structure.waves),
    )
