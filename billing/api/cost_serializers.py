"""The cost explorer's query (validated per field) and its answer."""

from __future__ import annotations

import decimal
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.costs import DIMENSIONS, STEPS
from billing.months import month_bounds, month_start
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField
from tenancy.models import Project, Tenant

MAX_RANGE = {"hour": timedelta(days=93), "day": timedelta(days=366)}
PARAMS = {"group_by", "from", "to", "month", "step", "tenant_id", "project_id", "deployment_id"}
ALWAYS = {"format", "limit", "offset"}
AMOUNT = {"max_digits": 30, "decimal_places": 12}


@extend_schema_field(OpenApiTypes.STR)
class MomentField(serializers.Field):
    """A day (YYYY-MM-DD, its first instant in UTC) or an RFC 3339 time."""

    default_error_messages = {"invalid": "Give a day (2026-03-01) or an RFC 3339 time (2026-03-01T12:00:00Z)."}

    def to_internal_value(self, data):
        text = str(data).strip()
        day = parse_date(text) if len(text) == 10 else None
        if day is not None:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid")
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)

    def to_representation(self, value):
        return value.isoformat()


class CostQuerySerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=list(DIMENSIONS), default="project")
    start = MomentField(required=False, help_text="Start (inclusive); default the first day of the month of `to`.")
    end = MomentField(required=False, help_text="End (exclusive); default the first day of the month after `from`.")
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$", required=False, help_text="YYYY-MM: that calendar month (UTC), instead of from/to."
    )
    step = serializers.ChoiceField(choices=list(STEPS), default="day")
    tenant_id = ScopedPrimaryKeyRelatedField(queryset=Tenant.objects.all(), tenant_field="pk", required=False)
    project_id = ScopedPrimaryKeyRelatedField(queryset=Project.objects.all(), required=False)
    deployment_id = serializers.UUIDField(required=False)

    def to_internal_value(self, data):
        unknown = sorted(set(data) - PARAMS - ALWAYS)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        # `from` and `to` are Python keywords: they are start and end inside.
        data = {("start" if k == "from" else "end" if k == "to" else k): v for k, v in data.items() if k in PARAMS}
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            names = {"start": "from", "end": "to"}
            raise serializers.ValidationError({names.get(k, k): v for k, v in error.detail.items()}) from None

    def validate(self, attrs):
        errors = {}
        if "month" in attrs:
            if "start" in attrs or "end" in attrs:
                errors["month"] = ["Give either month or from/to."]
            year, month = attrs.pop("month").split("-")
            attrs["start"], attrs["end"] = month_bounds(date(int(year), int(month), 1))
        start, end = attrs.get("start"), attrs.get("end")
        if start is None:
            start = month_bounds(month_start(end - timedelta(microseconds=1) if end else timezone.now()))[0]
        if end is None:
            end = month_bounds(month_start(start))[1]
        if start >= end:
            errors["from"] = ["Must be before to."]
        elif end - start > MAX_RANGE[attrs["step"]]:
            errors["from"] = [
                f"With step={attrs['step']} the range may span at most {MAX_RANGE[attrs['step']].days} days."
            ]
        project, tenant = attrs.get("project_id"), attrs.get("tenant_id")
        if project is not None and tenant is not None and project.tenant_id != tenant.pk:
            errors["project_id"] = ["Not a project of that tenant."]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["start"], attrs["end"] = start, end
        return attrs


class AmountField(serializers.DecimalField):
    """DRF's DecimalField, answering the same strings without copying the thread's decimal context for each value (a
    page of 50 groups of a month holds ~1,750 amounts, and those copies were most of the time spent serialising it):
    an amount already at the field's places, within its digits, is what DRF's quantize returns unchanged, whatever
    the rounding; a positive zero is the field's zero; anything else takes DRF's way."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._plain = getattr(self, "coerce_to_string", True) and not self.localize and not self.normalize_output
        self._zero = super().to_representation(decimal.Decimal(0))

    def to_representation(self, value):
        if self._plain and type(value) is decimal.Decimal:
            if not value:
                if not value.is_signed():
                    return self._zero
            else:
                text = f"{value:f}"  # as many places as the exponent says, in digits without an exponent
                point = text.find(".")
                if point >= 0 and len(text) - point - 1 == self.decimal_places and len(text) <= self.max_digits + 1:
                    return text
        return super().to_representation(value)


class CostGroupSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The value grouped by: an id, a slug or a GPU type ('' for none).")
    label = serializers.CharField()
    total = AmountField(**AMOUNT, help_text="Exact sum of the usage records (not rounded).")
    amounts = serializers.ListField(child=AmountField(**AMOUNT), help_text="Per step, aligned with `buckets`.")
    gpu_minutes = AmountField(**AMOUNT)
    cpu_core_minutes = AmountField(**AMOUNT)
    memory_gib_minutes = AmountField(**AMOUNT)
    tokens = serializers.FloatField(allow_null=True, help_text="Prompt + output tokens served (observability).")
    requests = serializers.FloatField(allow_null=True)
    cost_per_million_tokens = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)

    def to_representation(self, instance):
        """What DRF's field by field walk answers (the same keys in the same order, the same strings), written
        directly: a page of 50 groups of a month holds ~1,750 amounts, and the walk's per-field dispatch was most of
        the time spent serialising it."""
        fields = self.fields
        amount, rate = fields["total"].to_representation, fields["cost_per_million_tokens"]
        per_million = instance.cost_per_million_tokens
        tokens, requests, amounts = instance.tokens, instance.requests, instance.amounts
        return {
            "key": str(instance.key),
            "label": str(instance.label),
            "total": amount(instance.total),
            "amounts": None if amounts is None else [None if value is None else amount(value) for value in amounts],
            "gpu_minutes": amount(instance.gpu_minutes),
            "cpu_core_minutes": amount(instance.cpu_core_minutes),
            "memory_gib_minutes": amount(instance.memory_gib_minutes),
            "tokens": None if tokens is None else float(tokens),
            "requests": None if requests is None else float(requests),
            "cost_per_million_tokens": None if per_million is None else rate.to_representation(per_million),
        }


class CostReportSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    step = serializers.CharField()
    currency = serializers.CharField(default="USD")
    total = AmountField(**AMOUNT)
    tokens = serializers.FloatField(allow_null=True)
    cost_per_million_tokens = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)
    buckets = serializers.ListField(child=serializers.DateTimeField(), help_text="Start of each step (UTC).")
    count = serializers.IntegerField(help_text="Number of groups.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CostGroupSerializer(many=True, help_text="This page of the groups, largest total first.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(source="start")
        fields["to"] = serializers.DateTimeField(source="end")
        return fields
