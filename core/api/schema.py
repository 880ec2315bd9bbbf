"""drf-spectacular postprocessing: every operation lists the errors it can answer, in the project's one error shape,
and no internal note stands as a request body's description."""

from __future__ import annotations

import inspect

from core.api.fields import StrictFieldsMixin

ERROR = {
    "type": "object",
    "description": 'Every error: a summary and, per field path ("parameters.model_id", "limit"), what is wrong.',
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["detail", "errors"],
}
REASONS = {
    "400": "Invalid input: a body field, a query parameter or a business rule, named in `errors`.",
    "401": "Not signed in: no valid token or session.",
    "403": "Signed in, but the role (or a read-only token) does not allow it.",
    "404": "Not found, or in a tenant the caller is not a member of.",
    "409": "Conflicts with the current state (a change already rolling out, a deleted object).",
    "422": "The Idempotency-Key was already used for a different request.",
    "429": "Too many requests: wait for the Retry-After header's seconds.",
}
WRITES = {"post", "put", "patch", "delete"}
# Internal notes written for developers (docstrings of base classes) that a request body would otherwise inherit.
INTERNAL_NOTES = {inspect.getdoc(StrictFieldsMixin)}


def _codes(path: str, method: str, operation: dict) -> list[str]:
    codes = ["400", "401", "403", "429"]
    if "{" in path:
        codes.append("404")
    if method in WRITES:
        codes.append("409")
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
        codes.append("422")
    return codes


def _strict_request_bodies(generator) -> set[str]:
    """Names of the request-body components whose serializer refuses unknown fields (StrictFieldsMixin)."""
    names: set[str] = set()
    registry = getattr(generator, "registry", None)
    for component in registry._components.values() if registry is not None else ():
        serializer = component.object
        strict = isinstance(serializer, StrictFieldsMixin) or (
            isinstance(serializer, type) and issubclass(serializer, StrictFieldsMixin)
        )
        if strict and component.type == "schemas" and component.name.endswith("Request"):
            names.add(component.name)
    return names


def error_responses(result: dict, generator, request, public) -> dict:
    """POSTPROCESSING_HOOKS entry: the Error schema, each operation's 4xx answers, no inherited internal notes."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR
    for name in _strict_request_bodies(generator):
        if name in schemas:
            schemas[name]["additionalProperties"] = False  # an unknown field is a 400: say so
    for schema in schemas.values():
        if schema.get("description") in INTERNAL_NOTES:
            del schema["description"]
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes(path, method, operation):
                documented = responses.setdefault(code, {"description": REASONS[code]})
                documented.setdefault("description", REASONS[code])
                documented["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return result
