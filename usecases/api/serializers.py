from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache

from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from core.api.fields import StrictFieldsMixin
from usecases import profiles
from usecases.models import UseCaseVersion
from usecases.validation import NOT_AN_OBJECT, CatalogEntryFields, TagsField, UseCaseFields


class UseCaseSerializer(StrictFieldsMixin, UseCaseFields):
    """A use case. Numbers may be sent as strings ("1000", "1.5"); each min must not exceed its max."""

    # The fields are `usecases.validation.UseCaseFields`, which the service runs (once) on what this passes on;
    # this adds the state a response carries.

    tags = TagsField(source="tag_names", required=False)
    latency_profile = serializers.ChoiceField(
        choices=profiles.LATENCY_PROFILE_NAMES, read_only=True, help_text="From e2e_max: see usecases.profiles."
    )
    input_length_profile = serializers.ChoiceField(
        choices=profiles.INPUT_LENGTH_PROFILE_NAMES, read_only=True, help_text="From input_tokens_max."
    )
    is_active = serializers.BooleanField(read_only=True)
    version = serializers.IntegerField(read_only=True, help_text="Number of the latest version.")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_internal_value(self, data):
        # Unknown and read-only keys are refused here; the values are parsed by the service (usecases.validation),
        # against the current usecase for a partial update, so every caller gets the same messages.
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": [NOT_AN_OBJECT]})
        self.check_writable(data)
        return dict(data)

    def validate(self, attrs):
        return attrs


DERIVED = {
    "latency_profile": lambda row: profiles.latency_profile(row["e2e_max"]),
    "input_length_profile": lambda row: profiles.input_length_profile(row["input_tokens_max"]),
}


@cache
def _row_plan() -> tuple[tuple[str, serializers.Field | None], ...]:
    # (name, field whose to_representation is needed): ints, floats, strings and booleans come from the database
    # as DRF would return them, so only datetimes go through their field.
    fields = UseCaseSerializer().fields
    return tuple(
        (name, field if isinstance(field, serializers.DateTimeField) else None)
        for name, field in fields.items()
        if not field.write_only
    )


def _is_utc(zone) -> bool:
    return zone is UTC or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


def _datetime_writer(field: serializers.DateTimeField):
    """DateTimeField.to_representation for ISO 8601 output of the rows' UTC text (selectors.SearchPage), with the
    time zone looked up once, not per value. In UTC the text is the answer; another zone parses it first."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if output_format is None or output_format.lower() != ISO_8601:
        return lambda text: field.to_representation(datetime.fromisoformat(text))
    if _is_utc(zone):
        return lambda text: text[:-6] + "Z"

    def write(text):
        value = datetime.fromisoformat(text)
        text = (value.astimezone(zone) if zone is not None else value).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write


def usecase_rows_data(rows: list[dict]) -> list[dict]:
    """UseCaseSerializer's representation of search rows (selectors.SearchPage), built without a serializer per
    row: one dict per row, the same keys in the same order, the same values."""
    plan = [(name, field and _datetime_writer(field)) for name, field in _row_plan()]
    data = []
    for row in rows:
        item = {}
        for name, write in plan:
            if name in DERIVED:
                item[name] = DERIVED[name](row)
            elif write is not None and row[name] is not None:
                item[name] = write(row[name])
            else:
                item[name] = row[name]
        data.append(item)
    return data


class UseCaseVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    snapshot = serializers.JSONField(help_text="The use case in the import/export format.")

    class Meta:
        model = UseCaseVersion
        fields = ["version", "kind", "snapshot", "created_by", "created_at"]
        read_only_fields = fields


class ImportErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    unique_id = serializers.JSONField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ImportReportSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    written = serializers.BooleanField(help_text="False for a dry run or when nothing changed.")


class CatalogEntrySerializer(StrictFieldsMixin, CatalogEntryFields):
    """A use case in the import/export format: its fields and is_active, without the derived and state fields."""


class ImportRequestSerializer(serializers.Serializer):
    usecases = CatalogEntrySerializer(many=True, help_text="Or send the list itself as the body.")


class ExportSerializer(serializers.Serializer):
    usecases = CatalogEntrySerializer(many=True, help_text="The import format.")


class ExportRequestSerializer(serializers.Serializer):
    """Any search parameter (q, industry, tags, min_input_tokens, ...), also accepted in the query string."""

    q = serializers.CharField(required=False)
    industry = serializers.CharField(required=False)
    tags = serializers.CharField(required=False)


class IndustryCountSerializer(serializers.Serializer):
    industry = serializers.CharField()
    count = serializers.IntegerField()


class TagCountSerializer(serializers.Serializer):
    tag = serializers.CharField()
    count = serializers.IntegerField()


class RangeSerializer(serializers.Serializer):
    min = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True, help_text="Mean of each use case's (min + max) / 2.")
    max = serializers.FloatField(allow_null=True)


class RangesSerializer(serializers.Serializer):
    input_tokens = RangeSerializer()
    output_tokens = RangeSerializer()
    ttft = RangeSerializer()
    e2e = RangeSerializer()
    inter_token = RangeSerializer()


class StatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    active = serializers.IntegerField()
    inactive = serializers.IntegerField()
    by_industry = serializers.DictField(child=serializers.IntegerField())
    by_latency_profile = serializers.DictField(child=serializers.IntegerField())
    by_input_length_profile = serializers.DictField(child=serializers.IntegerField())
    top_tags = TagCountSerializer(many=True)
    ranges = RangesSerializer()
    ranges_by_industry = serializers.DictField(child=RangesSerializer())
