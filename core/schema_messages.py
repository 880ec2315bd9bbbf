"""jsonschema's errors told in JSON terms for API clients: "Must be an integer (got true)", not Python's
"True is not of type 'integer'"."""

from __future__ import annotations

import json

JSON_TYPES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def as_json(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def json_message(error) -> str:
    """One sentence for a jsonschema ValidationError, values written as JSON."""
    kind, expected, got = error.validator, error.validator_value, as_json(error.instance)
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"Must be {' or '.join(JSON_TYPES.get(t, t) for t in types)} (got {got})."
    if kind == "enum":
        return f"Must be one of {', '.join(as_json(v) for v in expected)} (got {got})."
    if kind == "const":
        return f"Must be {as_json(expected)} (got {got})."
    if kind in ("minimum", "maximum"):
        return f"Must be {'at least' if kind == 'minimum' else 'at most'} {expected} (got {got})."
    if kind in ("exclusiveMinimum", "exclusiveMaximum"):
        return f"Must be {'more' if kind == 'exclusiveMinimum' else 'less'} than {expected} (got {got})."
    if kind in ("minLength", "maxLength"):
        return f"Must be {'at least' if kind == 'minLength' else 'at most'} {expected} characters long."
    if kind in ("minItems", "maxItems"):
        plural = "" if expected == 1 else "s"
        return f"Must have {'at least' if kind == 'minItems' else 'at most'} {expected} item{plural}."
    if kind == "uniqueItems":
        return "Items must not repeat."
    if kind == "pattern":
        return f"Must match the pattern {expected} (got {got})."
    return error.message
