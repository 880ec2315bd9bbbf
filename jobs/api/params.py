"""Query parameters shared by the job layer's reads over time: a `from`/`to` window and one bounded integer, each
error on its own field (400), the window's end after its start."""

from __future__ import annotations

from datetime import datetime

from rest_framework import serializers

from core.exceptions import ValidationError


def window_and_count(
    params, *, default_from: datetime, default_to: datetime, name: str, default: int, low: int, high: int
) -> tuple[datetime, datetime, int]:
    """(`from`, `to`, the integer `name`) from the query; a ValidationError naming every field that is wrong."""
    errors, window = {}, {}
    for key, fallback in (("from", default_from), ("to", default_to)):
        raw = params.get(key)
        try:
            window[key] = serializers.DateTimeField().to_internal_value(raw) if raw else fallback
        except serializers.ValidationError as exc:
            errors[key] = exc.detail
    count = default
    try:
        count = int(params.get(name, default))
        if not low <= count <= high:
            raise ValueError
    except ValueError:
        errors[name] = [f"An integer from {low} to {high}."]
    if not errors and window["from"] >= window["to"]:
        errors["to"] = ["Must be after `from`."]
    if errors:
        raise ValidationError(errors)
    return window["from"], window["to"], count
