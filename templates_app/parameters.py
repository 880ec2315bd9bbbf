"""A template's parameters as JSON Schema: the one the API publishes, the console's form follows and `resolve`
validates with; validation errors come back as {"parameters.<name>": [reason]}.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache

from jsonschema import Draft202012Validator

from core.schema_messages import json_message
from templates_app.plans import template_content_of

# Parameter values are data, never expressions: this keeps a value from being rendered again at deploy time.
# A string with a template expression; a value of another type is judged by its own `type`, once.
NO_EXPRESSION = {"not": {"type": "string", "pattern": r"\{[{%#]"}}

_SCALAR = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
PARAMETER_TYPES = ("string", "text", "integer", "number", "boolean", "model_ref", "list", "secret")


def parameter_schema(parameter: dict) -> dict:
    """The JSON Schema of one declared parameter."""
    kind = parameter["type"]
    schema: dict = {}
    if parameter.get("label"):
        schema["title"] = parameter["label"]
    if parameter.get("description"):
        schema["description"] = parameter["description"]
    low, high = parameter.get("min"), parameter.get("max")
    if kind in ("string", "text", "model_ref", "secret"):
        schema["type"] = "string"
        schema.update(NO_EXPRESSION)
        if kind == "text":  # multi-line free text (a system prompt): a textarea in forms, a string everywhere else
            schema["x-parameter-type"] = "text"
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
    content = template_content_of(template)
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
def parameters_validator(parameters_json: str) -> Draft202012Validator:
    return Draft202012Validator(_schema_cached(parameters_json, ""))


def parameter_errors(validator: Draft202012Validator, values: dict) -> dict[str, list[str]]:
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
        message = json_message(error)
        if error.validator == "not":
            message = "Template expressions ({{ }}, {% %}) are not allowed in parameter values."
        if error.validator_value is True and error.validator == "writeOnly":
            continue
        errors.setdefault(".".join(["parameters", *map(str, path)]), []).append(message)
    return errors
