from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from observability.query import MAX_POINTS, MAX_RANGE, MIN_STEP, NAMES

DEFAULT_NAMES = ["vllm:time_to_first_token_seconds", "vllm:request_success_total"]
MAX_NAMES = 10


@extend_schema_field(OpenApiTypes.STR)
class TimeField(serializers.Field):
    """RFC 3339 or Unix seconds, as Prometheus's query_range takes them."""

    default_error_messages = {"invalid": "Give RFC 3339 (2026-11-30T12:00:00Z) or Unix seconds."}

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except (ValueError, OverflowError, OSError):
            pass
        parsed = parse_datetime(text)
        if parsed is None:
            self.fail("invalid")
        return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)

    def to_representation(self, value):
        return value.isoformat()


class MetricsQuerySerializer(serializers.Serializer):
    names = serializers.CharField(
        required=False, help_text=f"Comma-separated metric names (at most {MAX_NAMES}): {', '.join(NAMES)}."
    )
    start = TimeField(required=False, help_text="Start (inclusive); default an hour before `to`.")
    end = TimeField(required=False, help_text="End (exclusive); default now.")
    step = serializers.IntegerField(
        required=False, default=MIN_STEP, min_value=MIN_STEP, help_text="Seconds per point, a multiple of 60."
    )
    component = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)

    def to_internal_value(self, data):
        # Prometheus names its parameters start/end; the from/to are accepted too (both are reserved words).
        data = {**{k: v for k, v in data.items()}}
        for alias, name in (("from", "start"), ("to", "end")):
            if alias in data and name not in data:
                data[name] = data.pop(alias)
        return super().to_internal_value(data)

    def validate_names(self, value: str) -> list[str]:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            raise serializers.ValidationError(f"Unknown metric {unknown[0]!r}; known: {', '.join(NAMES)}.")
        if len(names) > MAX_NAMES:
            raise serializers.ValidationError(f"At most {MAX_NAMES} names.")
        return list(dict.fromkeys(names))

    def validate_step(self, value: int) -> int:
        if value % 60:
            raise serializers.ValidationError("Must be a multiple of 60 seconds (rollups are per minute).")
        return value

    def validate(self, attrs):
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or end - timedelta(hours=1)
        if start >= end:
            raise serializers.ValidationError({"start": ["Must be before end."]})
        if end - start > MAX_RANGE:
            raise serializers.ValidationError({"start": [f"The range may span at most {MAX_RANGE.days} days."]})
        if (end - start).total_seconds() / attrs["step"] > MAX_POINTS:
            raise serializers.ValidationError({"step": [f"At most {MAX_POINTS} points per series: raise the step."]})
        return {**attrs, "start": start, "end": end, "names": attrs.get("names") or DEFAULT_NAMES}


class SeriesSerializer(serializers.Serializer):
    metric = serializers.DictField(child=serializers.CharField(), help_text="__name__, component, quantile.")
    values = serializers.ListField(
        child=serializers.ListField(), help_text="[unix seconds, value as a string] per step, as Prometheus gives."
    )


class MatrixSerializer(serializers.Serializer):
    resultType = serializers.CharField()
    result = SeriesSerializer(many=True)


class RangeQuerySerializer(serializers.Serializer):
    status = serializers.CharField()
    data = MatrixSerializer()


class SloObjectiveStatusSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=["ttft", "itl", "e2e"])
    threshold_s = serializers.FloatField()
    objective = serializers.FloatField()
    attainment = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="Share of requests within the target, per window."
    )
    burn_rate = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="(1 - attainment) / (1 - objective), per window."
    )
    error_budget_remaining = serializers.FloatField(allow_null=True, help_text="Of the 30-day budget; < 0: spent.")
    met = serializers.BooleanField(allow_null=True)


class SloStatusSerializer(serializers.Serializer):
    usecase_id = serializers.CharField(allow_null=True)
    objective = serializers.FloatField()
    objectives = SloObjectiveStatusSerializer(many=True)
    volume = serializers.DictField(child=serializers.DictField(child=serializers.FloatField()))


class MonitoringSerializer(serializers.Serializer):
    objective = serializers.DecimalField(
        max_digits=6, decimal_places=5, min_value=Decimal("0.5"), max_value=Decimal("0.99999")
    )
    load_kind = serializers.ChoiceField(choices=["constant", "diurnal", "bursts"])
    requests_per_second = serializers.FloatField(min_value=0, max_value=100_000, allow_null=True)
    peak_hour = serializers.IntegerField(min_value=0, max_value=23)
    burst_factor = serializers.FloatField(min_value=1, max_value=100)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
