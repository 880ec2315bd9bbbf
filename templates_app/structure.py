"""A template's structure without parameter values: known components, a dependency graph without circles, and
every parameter, component and output a string refers to defined. The YAML loader, the API and `resolve` share it,
so a template that loads always resolves with valid parameters.
"""

from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass

from jsonschema import Draft202012Validator

from components.selectors import component_definitions_by_ref
from core.exceptions import ValidationError
from templates_app.parameters import PARAMETER_TYPES, parameter_schema
from templates_app.plans import template_content_of
from templates_app.rendering import ExpressionError, analyse, walk_strings
from templates_app.routing import routing_errors


def definitions_index(component_defs: dict) -> dict:
    """{id or alias: definition} from {id_or_alias: definition}."""
    index: dict = {}
    for key, definition in component_defs.items():
        index.setdefault(definition.get("id", key), definition)
        for alias in definition.get("aliases") or ():
            index.setdefault(alias, definition)
        index.setdefault(key, definition)
    return index


def db_definitions() -> dict:
    return component_definitions_by_ref()


@dataclass
class Structure:
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


def structure_of(content: dict, index: dict, errors: dict) -> Structure | None:
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
        _check_autoscaling(i, component.get("autoscaling"), errors)
    for path, reasons in routing_errors(content.get("routing"), keys).items():
        errors.setdefault(path, []).extend(reasons)
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
    return Structure(keys, definitions, depends, output_refs, order, waves)


def _check_parameter_definition(i: int, parameter: dict, errors: dict) -> None:
    if parameter.get("type") not in PARAMETER_TYPES:
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


def _check_autoscaling(i: int, block, errors: dict) -> None:
    """The schema checks each field of an `autoscaling:` block; the one rule across fields is min <= max."""
    if not isinstance(block, dict):
        return
    low, high = block.get("min_replicas"), block.get("max_replicas")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        errors.setdefault(f"components.{i}.autoscaling.min_replicas", []).append(f"at most max_replicas ({high})")


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
    index = definitions_index(component_defs if component_defs is not None else db_definitions())
    structure_of(content, index, errors)
    return errors


def template_graph(template, *, component_defs: dict | None = None) -> dict:
    """A template's component graph without parameter values (what a catalogue page draws):
    {"waves": [[key, ...], ...], "depends_on": {key: [upstream, ...]}, "components": {key: component id}}.
    Raises ValidationError when the template is structurally unsound."""
    content = template_content_of(template)
    index = definitions_index(component_defs if component_defs is not None else db_definitions())
    errors: dict[str, list[str]] = {}
    structure = structure_of(content, index, errors)
    if structure is None:
        raise ValidationError(errors, detail="The template is invalid.")
    return {
        "waves": [list(wave) for wave in structure.waves],
        "depends_on": {key: list(structure.depends[key]) for key in structure.order},
        "components": {key: structure.definitions[key]["id"] for key in structure.order},
    }
