"""The shape of one use case, as DRF serializers: the single validator behind the API, the admin, the CLI and import.

Accepts what real catalog files contain: numbers as strings ("1000", "1.5", "1,000"), industries in any case
and spacing, tags as a list or a comma-separated string, legacy single `batch_size` / `beam_size` (min = max),
and missing optional fields. Strict where it matters: every min <= max, no negatives, and no value above its
range's maximum (`usecases.models.RANGE_MAXIMUMS`). `UseCaseFields` declares the fields (the API's serializer
inherits them, so its schema is what is parsed); `clean_usecase` and `clean_catalog_entry` run them and return the
canonical snapshot (the import/export format, which adds `is_active`) or raise `core.exceptions.ValidationError`
with one list of messages per field. Rules that need the database (a taken unique_id) stay in the services.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from rest_framework import serializers
from rest_framework.fields import SkipField

from core.exceptions import ValidationError
from usecases.models import NUMERIC_FIELDS, RANGE_FIELDS, RANGE_MAXIMUMS

TEXT_FIELDS = ("unique_id", "name", "industry", "description")
SNAPSHOT_FIELDS = (*TEXT_FIELDS, "tags", *NUMERIC_FIELDS)
LEGACY_SINGLE_FIELDS = ("batch_size", "beam_size")
# Keys an API response carries that describe state, not the usecase: ignored on input. (An import entry's
# is_active is read by clean_catalog_entry; the API's create and update reject it as read-only.)
IGNORED_FIELDS = frozenset(
    {"id", "is_active", "version", "created_at", "updated_at", "latency_profile", "input_length_profile"}
)
# Path segments under /api/usecases/ that name endpoints; a usecase with such an id could not be addressed.
RESERVED_IDS = frozenset({"search", "stats", "import", "export", "industries", "tags"})
UNIQUE_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
REQUIRED = "This field is required."
TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})
FALSE_STRINGS = frozenset({"false", "0", "no", "off"})
NOT_AN_OBJECT = "Expected an object with the use case's fields."


def industry_key(value: str) -> str:
    """Case-, spacing- and separator-insensitive key under which industry spellings are the same."""
    return " ".join(re.split(r"[\s_]+", value.strip())).casefold()


def normalise_industry(value: str, known: Mapping[str, str] | None = None) -> str:
    """The canonical spelling: an existing industry's when one matches, else words capitalised (acronyms kept)."""
    key = industry_key(value)
    if known and key in known:
        return known[key]
    words = [word for word in re.split(r"[\s_]+", value.strip()) if word]

    def fix(word: str) -> str:
        if word.isupper() and len(word) <= 4:
            return word  # AI, IT, HR, B2B
        if word.islower() or word.isupper():
            return word[:1].upper() + word[1:].lower()
        return word  # deliberate mixed case: eCommerce, DevOps

    return " ".join(fix(word) for word in words)


def normalise_tag(value: str) -> str:
    return "-".join(value.strip().lower().split())


def _parse_number(value, *, integer: bool, maximum: int | float):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    message = "A valid integer is required." if integer else "A valid number is required."
    if isinstance(value, bool):
        raise ValueError(message)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip().replace(",", "").replace("_", ""))
        except InvalidOperation:
            raise ValueError(message) from None
    if not isinstance(value, int | float | Decimal):
        raise ValueError(message)
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise ValueError(message)
    if value < 0:
        raise ValueError("Must be 0 or more.")
    # Beyond any real deployment, and for integers the column's range: a field error, not a database error.
    if value > maximum:
        raise ValueError(f"Must be {maximum:.0f} or less.")
    if integer:
        if value != int(value):
            raise ValueError(message)
        return int(value)
    return float(value)


def _parse_tags(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("Expected a list of tags or a comma-separated string.")
    tags = set()
    for item in value:
        if not isinstance(item, str):
            raise ValueError("Each tag must be a string.")
        tag = normalise_tag(item)
        if len(tag) > 64:
            raise ValueError(f"Tag {tag[:20]!r}... is longer than 64 characters.")
        if tag:
            tags.add(tag)
    return sorted(tags)


class _LenientNumber:
    """A range end: a number, or a string of one ("1,000", "1.5"); blank is null; 0..the range's maximum."""

    integer = True

    def __init__(self, range_name: str, **kwargs):
        self.maximum = RANGE_MAXIMUMS[range_name]
        kwargs.setdefault("error_messages", {"null": REQUIRED})
        super().__init__(min_value=0, max_value=self.maximum, **kwargs)

    def to_internal_value(self, data):
        try:
            value = _parse_number(data, integer=self.integer, maximum=self.maximum)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if value is None and not self.allow_null:
            self.fail("null")
        return value

    def run_validators(self, value):
        if value is not None:  # a blank string is null; the bounds are checked by the parse, declared for the schema
            super().run_validators(value)


class CountField(_LenientNumber, serializers.IntegerField):
    """A range end counted in tokens or sequences."""


class SecondsField(_LenientNumber, serializers.FloatField):
    """A range end in seconds."""

    integer = False


class TagsField(serializers.ListField):
    """Tags as a list or a comma-separated string, normalised (lower case, dashes), de-duplicated and sorted."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=64), **kwargs)

    def to_internal_value(self, data):
        try:
            return _parse_tags(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class ActiveField(serializers.BooleanField):
    """is_active of an import entry: true/false, yes/no, on/off, 1/0; absent or null (older files) is true."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        return super().to_internal_value(data.strip() if isinstance(data, str) else data)


def _optional(field_class, range_name: str, **kwargs):
    return field_class(range_name, required=False, allow_null=True, default=None, **kwargs)


class UseCaseFields(serializers.Serializer):
    """A use case's content. Numbers may be sent as strings ("1000", "1.5"); each min must not exceed its max."""

    unique_id = serializers.SlugField(
        max_length=100,
        error_messages={"null": REQUIRED, "invalid": "Use only letters, numbers, underscores and hyphens."},
        help_text="Letters, numbers, '_' and '-'; fixed once created.",
    )
    name = serializers.CharField(max_length=200, error_messages={"null": REQUIRED})
    industry = serializers.CharField(
        max_length=100, error_messages={"null": REQUIRED}, help_text="Normalised: 'health care' matches 'Healthcare'."
    )
    description = serializers.CharField(
        max_length=100_000, required=False, allow_blank=True, allow_null=True, default=""
    )
    tags = TagsField(required=False, allow_null=True, default=list)
    input_tokens_min = CountField("input_tokens")
    input_tokens_max = CountField("input_tokens")
    output_tokens_min = CountField("output_tokens")
    output_tokens_max = CountField("output_tokens")
    batch_size_min = _optional(CountField, "batch_size")
    batch_size_max = _optional(CountField, "batch_size")
    beam_size_min = _optional(CountField, "beam_size")
    beam_size_max = _optional(CountField, "beam_size")
    batch_size = _optional(
        CountField, "batch_size", write_only=True, help_text="Legacy single value: sets min and max."
    )
    beam_size = _optional(CountField, "beam_size", write_only=True, help_text="Legacy single value: sets min and max.")
    ttft_min = _optional(SecondsField, "ttft", help_text="Time to first token, seconds.")
    ttft_max = _optional(SecondsField, "ttft", help_text="Time to first token, seconds.")
    e2e_min = _optional(SecondsField, "e2e", help_text="End-to-end latency, seconds.")
    e2e_max = _optional(SecondsField, "e2e", help_text="End-to-end latency, seconds.")
    inter_token_min = _optional(SecondsField, "inter_token", help_text="Inter-token latency, seconds.")
    inter_token_max = _optional(SecondsField, "inter_token", help_text="Inter-token latency, seconds.")

    def validate_unique_id(self, value: str) -> str:
        if value.lower() in RESERVED_IDS:
            raise serializers.ValidationError(f"{value!r} is reserved by the API.")
        return value

    def validate_industry(self, value: str) -> str:
        return normalise_industry(value, self.context.get("industries"))

    def validate_description(self, value: str | None) -> str:
        return value or ""

    def validate_tags(self, value: list | None) -> list:
        return value or []

    def validate(self, attrs: dict) -> dict:
        errors = _range_errors(attrs)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # The ranges whose ends are both valid are checked too, so one answer lists every problem.
            ends = {}
            for name in RANGE_FIELDS:
                for end in (f"{name}_min", f"{name}_max"):
                    if end not in exc.detail:
                        with contextlib.suppress(serializers.ValidationError, SkipField):
                            ends[end] = self.fields[end].run_validation(data.get(end, serializers.empty))
            raise serializers.ValidationError({**exc.detail, **_range_errors(ends)}) from None


def _range_errors(values: Mapping) -> dict[str, list[str]]:
    errors = {}
    for name in RANGE_FIELDS:
        low, high = values.get(f"{name}_min"), values.get(f"{name}_max")
        if low is not None and high is not None and low > high:
            errors[f"{name}_min"] = [f"Must be less than or equal to {name}_max ({high:g})."]
    return errors


class CatalogEntryFields(UseCaseFields):
    """A use case in the import/export format: its content and is_active."""

    is_active = ActiveField(
        required=False,
        allow_null=True,
        default=True,
        help_text="False: imported (or kept) soft-deleted. Absent, as in older files: true.",
    )

    def validate_is_active(self, value: bool | None) -> bool:
        return True if value is None else value


def _with_legacy_singles(data: dict) -> dict:
    for legacy in LEGACY_SINGLE_FIELDS:
        if legacy in data:
            single = data.pop(legacy)
            data.setdefault(f"{legacy}_min", single)
            data.setdefault(f"{legacy}_max", single)
    return data


def _run(shape: serializers.Serializer, data: dict, errors: dict) -> dict | None:
    try:
        return shape.run_validation(data)
    except serializers.ValidationError as exc:
        errors.update({field: [str(message) for message in messages] for field, messages in exc.detail.items()})
        return None


def clean_usecase(
    data, *, base: Mapping | None = None, industries: Mapping[str, str] | None = None, strict: bool = True
) -> dict:
    """Validate `data` and return the canonical snapshot.

    `base` is the current snapshot for a partial update (fields missing from `data` keep their value).
    `industries` maps industry_key() to existing spellings, so "health care" lands on "Healthcare" if known.
    `strict` rejects unknown keys (the API and import do; IGNORED_FIELDS are always ignored).
    """
    return _clean(UseCaseFields(context={"industries": industries}), data, base=base, strict=strict)[0]


def usecase_entry_cleaner(*, industries: Mapping[str, str] | None = None):
    """A function cleaning one import/export entry after another: (snapshot, is_active) or ValidationError. The
    fields are built once for a whole file; `industries` (mutable) may learn spellings between entries."""
    shape = CatalogEntryFields(context={"industries": industries})

    def clean(data) -> tuple[dict, bool]:
        snapshot, values = _clean(shape, data, base=None, strict=True, keep=("is_active",))
        return snapshot, values["is_active"]

    return clean


def clean_catalog_entry(data, *, industries: Mapping[str, str] | None = None) -> tuple[dict, bool]:
    """Validate one import/export entry: its canonical snapshot and its is_active (absent, as in older files: true)."""
    return usecase_entry_cleaner(industries=industries)(data)


def _clean(shape, data, *, base, strict: bool, keep: tuple[str, ...] = ()) -> tuple[dict, dict]:
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": [NOT_AN_OBJECT]})
    data = _with_legacy_singles(dict(data))
    errors: dict[str, list[str]] = {}
    if strict:
        errors.update(
            {str(key): ["Unknown field."] for key in data if key not in SNAPSHOT_FIELDS and key not in IGNORED_FIELDS}
        )
    wanted = (*SNAPSHOT_FIELDS, *keep)
    merged = {**(base or {}), **{key: value for key, value in data.items() if key in wanted}}
    values = _run(shape, merged, errors)
    if errors:
        raise ValidationError(errors)
    return {field: values[field] for field in SNAPSHOT_FIELDS}, values
