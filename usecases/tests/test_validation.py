import pytest

from core.exceptions import ValidationError
from usecases import profiles
from usecases.models import INTEGER_RANGES, RANGE_MAXIMUMS
from usecases.tests.factories import usecase_data
from usecases.validation import clean_catalog_entry, clean_usecase, normalise_industry


def errors_of(data, **kwargs) -> dict:
    with pytest.raises(ValidationError) as info:
        clean_usecase(data, **kwargs)
    return info.value.errors


def test_minimal_payload_gets_defaults_for_optional_fields():
    data = {k: usecase_data()[k] for k in ("unique_id", "name", "industry")} | {
        "input_tokens_min": 100,
        "input_tokens_max": 500,
        "output_tokens_min": 50,
        "output_tokens_max": 200,
    }
    clean = clean_usecase(data)
    assert clean["description"] == ""
    assert clean["tags"] == []
    assert clean["batch_size_min"] is None
    assert clean["e2e_max"] is None


def test_numeric_strings_are_converted():
    clean = clean_usecase(usecase_data(input_tokens_min="1000", input_tokens_max="2,000", ttft_min="1.5"))
    assert clean["input_tokens_min"] == 1000
    assert clean["input_tokens_max"] == 2000
    assert clean["ttft_min"] == 1.5


def test_min_greater_than_max_is_an_error_on_the_min_field():
    errors = errors_of(usecase_data(input_tokens_min=3000, input_tokens_max=2000, e2e_min=9, e2e_max=6))
    assert errors == {
        "input_tokens_min": ["Must be less than or equal to input_tokens_max (2000)."],
        "e2e_min": ["Must be less than or equal to e2e_max (6)."],
    }


def test_negative_values_are_rejected_per_field():
    errors = errors_of(usecase_data(output_tokens_min=-1, ttft_min="-0.5"))
    assert errors == {"output_tokens_min": ["Must be 0 or more."], "ttft_min": ["Must be 0 or more."]}


@pytest.mark.parametrize("value", ["abc", "1.5", True, [], "nan"])
def test_bad_integer_values_are_rejected(value):
    assert errors_of(usecase_data(input_tokens_min=value)) == {"input_tokens_min": ["A valid integer is required."]}


@pytest.mark.parametrize("value", ["fast", "inf", "-nan", "1e400", float("inf"), float("nan"), {}])
def test_bad_seconds_values_are_rejected(value):
    assert errors_of(usecase_data(e2e_min=value)) == {"e2e_min": ["A valid number is required."]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens_max", "99999999999", "Must be 100000000 or less."),
        ("output_tokens_max", 3_000_000_000, "Must be 100000000 or less."),
        ("batch_size_max", 2**40, "Must be 1000000 or less."),
        ("beam_size_max", "1001", "Must be 1000 or less."),
        ("input_tokens_max", "1e300", "Must be 100000000 or less."),
        ("e2e_max", "1e300", "Must be 604800 or less."),
        ("ttft_max", 1e308, "Must be 604800 or less."),
    ],
)
def test_values_above_their_range_maximum_are_rejected_per_field(field, value, message):
    assert errors_of(usecase_data(**{field: value})) == {field: [message]}


def test_range_maximums_themselves_are_accepted():
    maxima = {f"{name}_max": value for name, value in RANGE_MAXIMUMS.items()}
    clean = clean_usecase(usecase_data(**maxima))
    assert (clean["input_tokens_max"], clean["beam_size_max"], clean["e2e_max"]) == (100_000_000, 1000, 604_800.0)


def test_range_maximums_fit_the_integer_columns():
    assert all(RANGE_MAXIMUMS[name] <= 2**31 - 1 for name in INTEGER_RANGES)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), (True, True), (False, False), ("false", False), (" Yes ", True), (0, False)]
)
def test_catalog_entry_reads_is_active_and_defaults_to_active(value, expected):
    entry = usecase_data() if value is None else usecase_data(is_active=value)
    snapshot, active = clean_catalog_entry(entry)
    assert (snapshot, active) == (clean_usecase(usecase_data()), expected)


def test_catalog_entry_reports_a_bad_is_active_with_the_other_errors():
    with pytest.raises(ValidationError) as info:
        clean_catalog_entry(usecase_data(is_active="maybe", input_tokens_min=-1))
    assert info.value.errors == {"input_tokens_min": ["Must be 0 or more."], "is_active": ["Must be true or false."]}


def test_required_fields_are_listed():
    errors = errors_of({"description": "x"})
    assert set(errors) == {
        "unique_id",
        "name",
        "industry",
        "input_tokens_min",
        "input_tokens_max",
        "output_tokens_min",
        "output_tokens_max",
    }
    assert errors["name"] == ["This field is required."]


def test_legacy_single_batch_and_beam_size_become_min_and_max():
    clean = clean_usecase(usecase_data(batch_size="8", beam_size=1))
    assert (clean["batch_size_min"], clean["batch_size_max"]) == (8, 8)
    assert (clean["beam_size_min"], clean["beam_size_max"]) == (1, 1)


def test_unknown_field_is_an_error_and_read_only_state_is_ignored():
    assert errors_of(usecase_data(input_token_max=5)) == {"input_token_max": ["Unknown field."]}
    assert clean_usecase(usecase_data(latency_profile="batch", is_active=False))["unique_id"] == "healthcare_001"


@pytest.mark.parametrize("bad", ["has space", "search", "Stats", "a/b"])
def test_unique_id_must_be_a_slug_and_not_reserved(bad):
    assert "unique_id" in errors_of(usecase_data(unique_id=bad))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  customer   support ", "Customer Support"),
        ("HEALTHCARE", "Healthcare"),
        ("software_engineering", "Software Engineering"),
        ("IT operations", "IT Operations"),
        ("eCommerce", "eCommerce"),
    ],
)
def test_industry_is_normalised(raw, expected):
    assert normalise_industry(raw) == expected


def test_industry_takes_the_existing_spelling():
    clean = clean_usecase(usecase_data(industry="health care"), industries={"health care": "Health Care"})
    assert clean["industry"] == "Health Care"


def test_tags_are_normalised_from_a_comma_separated_string():
    assert clean_usecase(usecase_data(tags="NLP, Real Time,nlp,"))["tags"] == ["nlp", "real-time"]


def test_partial_update_keeps_base_values_and_checks_against_them():
    base = clean_usecase(usecase_data())
    assert clean_usecase({"name": "New"}, base=base)["input_tokens_max"] == 2000
    errors = errors_of({"input_tokens_min": 5000}, base=base)
    assert errors == {"input_tokens_min": ["Must be less than or equal to input_tokens_max (2000)."]}


@pytest.mark.parametrize(
    ("e2e_max", "profile"),
    [
        (0.5, "real-time"),
        (2.0, "real-time"),
        (2.01, "interactive"),
        (5, "interactive"),
        (10, "responsive"),
        (10.5, "batch"),
        (None, "batch"),
    ],
)
def test_latency_profile_thresholds(e2e_max, profile):
    assert profiles.latency_profile(e2e_max) == profile


@pytest.mark.parametrize(
    ("tokens", "profile"), [(1000, "short"), (1001, "medium"), (10_000, "medium"), (10_001, "long")]
)
def test_input_length_profile_thresholds(tokens, profile):
    assert profiles.input_length_profile(tokens) == profile
