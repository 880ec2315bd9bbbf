"""Parse and check one usecase's data: the single validator behind the API, import and the admin.

Accepts what real catalog files contain: numbers as strings ("1000", "1.5", "1,000"), industries in any case
and spacing, tags as a list or a comma-separated string, legacy single `batch_size` / `beam_size` (min = max),
and missing optional fields. Strict where it matters: every min <= max, no negatives, and no value above its
range's maximum (`usecases.models.RANGE_MAXIMUMS`). Returns the canonical snapshot (the import/export format,
which adds `is_active`) or raises `core.exceptions.ValidationError` with one list of messages per field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from core.exceptions import ValidationError
from usecases.models import INTEGER_RANGES, NUMERIC_FIELDS, RANGE_FIELDS, RANGE_MAXIMUMS, REQUIRED_RANGES

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


def _parse_bool(value, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_STRINGS | FALSE_STRINGS:
        return value.strip().lower() in TRUE_STRINGS
    raise ValueError("Must be true or false.")


def _parse_text(value, *, max_length: int, required: bool) -> str:
    if value is None:
        if required:
            raise ValueError(REQUIRED)
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError("Not a valid string.")
    text = str(value).strip()
    if required and not text:
        raise ValueError("This field may not be blank.")
    if len(text) > max_length:
        raise ValueError(f"Ensure this field has no more than {max_length} characters.")
    return text


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


def clean_usecase(
    data, *, base: Mapping | None = None, industries: Mapping[str, str] | None = None, strict: bool = True
) -> dict:
    """Validate `data` and return the canonical snapshot.

    `base` is the current snapshot for a partial update (fields missing from `data` keep their value).
    `industries` maps industry_key() to existing spellings, so "health care" lands on "Healthcare" if known.
    `strict` rejects unknown keys (the API and import do; IGNORED_FIELDS are always ignored).
    """
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": ["Expected an object with the usecase's fields."]})
    errors: dict[str, list[str]] = {}
    data = dict(data)
    for legacy in LEGACY_SINGLE_FIELDS:
        if legacy in data:
            single = data.pop(legacy)
            data.setdefault(f"{legacy}_min", single)
            data.setdefault(f"{legacy}_max", single)
    if strict:
        for key in data:
            if key not in SNAPSHOT_FIELDS and key not in IGNORED_FIELDS:
                errors[str(key)] = ["Unknown field."]
    merged = {**(base or {}), **{key: value for key, value in data.items() if key in SNAPSHOT_FIELDS}}

    clean: dict = {}
    for field, max_length, required in (
        ("unique_id", 100, True),
        ("name", 200, True),
        ("industry", 100, True),
        ("description", 100_000, False),
    ):
        if required and field not in merged:
            errors[field] = [REQUIRED]
            continue
        try:
            clean[field] = _parse_text(merged.get(field), max_length=max_length, required=required)
        except ValueError as exc:
            errors[field] = [str(exc)]
    if "unique_id" in clean:
        if not UNIQUE_ID_RE.match(clean["unique_id"]):
            errors["unique_id"] = ["Use only letters, numbers, underscores and hyphens."]
        elif clean["unique_id"].lower() in RESERVED_IDS:
            errors["unique_id"] = [f"{clean['unique_id']!r} is reserved by the API."]
    if "industry" in clean:
        clean["industry"] = normalise_industry(clean["industry"], industries)
    try:
        clean["tags"] = _parse_tags(merged.get("tags"))
    except ValueError as exc:
        errors["tags"] = [str(exc)]

    for name in RANGE_FIELDS:
        integer = name in INTEGER_RANGES
        for end in ("min", "max"):
            field = f"{name}_{end}"
            try:
                clean[field] = _parse_number(merged.get(field), integer=integer, maximum=RANGE_MAXIMUMS[name])
            except ValueError as exc:
                errors[field] = [str(exc)]
                continue
            if clean[field] is None and name in REQUIRED_RANGES:
                errors[field] = [REQUIRED]
        low, high = clean.get(f"{name}_min"), clean.get(f"{name}_max")
        if low is not None and high is not None and low > high:
            errors[f"{name}_min"] = [f"Must be less than or equal to {name}_max ({high:g})."]
    if errors:
        raise ValidationError(errors)
    return {field: clean[field] for field in SNAPSHOT_FIELDS}


def clean_catalog_entry(data, *, industries: Mapping[str, str] | None = None) -> tuple[dict, bool]:
    """Validate one import/export entry: its canonical snapshot and its is_active (absent, as in older files: true)."""
    errors: dict[str, list[str]] = {}
    snapshot: dict = {}
    try:
        snapshot = clean_usecase(data, industries=industries)
    except ValidationError as exc:
        errors.update(exc.errors)
    active = True
    if isinstance(data, Mapping):
        try:
            active = _parse_bool(data.get("is_active"), default=True)
        except ValueError as exc:
            errors["is_active"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return snapshot, active
