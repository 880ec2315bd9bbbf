"""Serializer helpers shared by every app's API."""

from __future__ import annotations

from rest_framework import serializers


class StrictFieldsMixin:
    """Reject unknown and read-only fields in a write instead of silently ignoring them (a 400 per field)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for key in data:
                if key in writable:
                    continue
                if key in self.fields:
                    errors[key] = ["This field is read-only."]
                else:
                    errors[key] = ["Unknown field."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
