"""Serializer helpers shared by every app's API."""

from __future__ import annotations

from rest_framework import serializers

from core.money import MONEY_PLACES, money


class StrictFieldsMixin:
    """Reject unknown and read-only fields in a write instead of silently ignoring them (a 400 per field)."""

    def to_internal_value(self, data):
        self.check_writable(data)
        return super().to_internal_value(data)

    def check_writable(self, data) -> None:
        """A 400 naming every key of `data` that is not a writable field."""
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


class MoneyField(serializers.DecimalField):
    """An amount of money: a string with exactly core.money.MONEY_PLACES decimal places, read-only."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(max_digits=18, decimal_places=MONEY_PLACES, coerce_to_string=True, **kwargs)

    def to_representation(self, value):
        return super().to_representation(money(value))
