"""The shape of a scale request, as DRF serializers shared by the API (its schema and first check), the console, the
`deploy` command and the services: {component key: replicas, or {"replicas"?, "resources"?}}.

Only the shape is here (whole numbers, the one replica limit of the job layer, which resources may change); which
components exist and which GPU types the cluster has are the service's rules (`deployments.services.scaling`).
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from core.api.errors import flatten_errors
from core.exceptions import ValidationError
from jobs.validation import MAX_REPLICAS

SCALE_RESOURCE_KEYS = frozenset({"cpu", "memory_gib", "gpu_count", "gpu_type"})
WHOLE = "A whole number, 0 or more."
NUMBER = "A number, 0 or more."
REPLICAS = f"A whole number from 1 to {MAX_REPLICAS}."


def _messages(text: str) -> dict[str, str]:
    return {code: text for code in ("invalid", "min_value", "max_value", "max_string_length", "null")}


class _Number(serializers.FloatField):
    """A number 0 or more, kept as sent (2 stays 2, not 2.0: the revision records what was asked for)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return data if isinstance(data, int) and not isinstance(data, bool) else value


class _Whole(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class _ErrorsAtItsPath(serializers.Serializer):
    """An object whose own errors (not its fields') are reported at its path (`scale.llm`), not under
    `non_field_errors` below it."""

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and list(exc.detail) == ["non_field_errors"]:
                raise serializers.ValidationError(exc.detail["non_field_errors"]) from None
            raise


class ScaleResourcesSerializer(_ErrorsAtItsPath):
    """The resources a scale may change; the others come from the template."""

    cpu = _Number(min_value=0, required=False, error_messages=_messages(NUMBER))
    memory_gib = _Number(min_value=0, required=False, error_messages=_messages(NUMBER))
    gpu_count = _Whole(min_value=0, required=False, error_messages=_messages(WHOLE))
    gpu_type = serializers.CharField(required=False, help_text="One of the cluster's GPU types.")

    def to_internal_value(self, data):
        if not isinstance(data, Mapping) or set(data) - SCALE_RESOURCE_KEYS:
            raise serializers.ValidationError([f"Only {', '.join(sorted(SCALE_RESOURCE_KEYS))} can be changed."])
        return super().to_internal_value(data)


class ScaleEntrySerializer(_ErrorsAtItsPath):
    """One component's new size: replicas and/or resources (a bare number is the replicas)."""

    replicas = _Whole(min_value=1, max_value=MAX_REPLICAS, required=False, error_messages=_messages(REPLICAS))
    resources = ScaleResourcesSerializer(required=False)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = {"replicas": data}
        if not isinstance(data, Mapping) or not ({"replicas", "resources"} & set(data)):
            raise serializers.ValidationError(['Give {"replicas": N} and/or {"resources": {...}}.'])
        unknown = set(data) - {"replicas", "resources"}
        if unknown:
            raise serializers.ValidationError([f"Unknown fields: {', '.join(sorted(unknown))}."])
        return super().to_internal_value(data)


class ScaleRequestField(serializers.DictField):
    """A request's `scale`: a non-empty object of component key -> ScaleEntrySerializer. On the API it only
    declares that (for the schema) and passes the object on: the service parses it with the same serializers and
    checks it against the deployment, so one answer names every problem."""

    required_message = 'An object such as {{"llm": {{"replicas": 3}}}} is required.'  # DRF formats messages

    def __init__(self, *, parse: bool = False, **kwargs):
        self.parse = parse
        message = self.required_message
        kwargs.setdefault("error_messages", {"empty": message, "not_a_dict": message, "null": message})
        kwargs["error_messages"].setdefault("required", message)
        super().__init__(child=ScaleEntrySerializer(), allow_empty=False, **kwargs)

    def to_internal_value(self, data):
        if self.parse:
            return super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        if not data:
            self.fail("empty")
        return data


_SCALE = ScaleRequestField(parse=True)


def scale_request_shape(scale) -> dict[str, dict]:
    """The scale request in its one form, {key: {"replicas"?, "resources"?}}; ValidationError by field path
    (`scale.llm.replicas`) otherwise."""
    try:
        shaped = _SCALE.run_validation(scale)
    except serializers.ValidationError as exc:
        raise ValidationError(flatten_errors(exc.detail, "scale")) from None
    return {
        key: {name: dict(value) if isinstance(value, Mapping) else value for name, value in entry.items()}
        for key, entry in shaped.items()
    }
