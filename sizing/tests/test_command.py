"""manage.py size: the table for a use case, the load forms, and errors as CommandError."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sizing.management.commands.size import parse_load

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("size", *args, stdout=out)
    return out.getvalue()


def test_table_for_a_shipped_use_case(shipped_usecases):
    text = run("--usecase", "ambient_scribe", "--model", "llama-3.1-8b", "--load", "20", "--top", "5")
    assert "600 tokens in, 200 out" in text and "TTFT <= 0.35 s" in text
    assert text.count(" meets ") == 5 and "Chosen:" in text


def test_json_output_and_rate_load():
    text = run(
        "--model",
        "llama-3.1-8b",
        "--input-tokens",
        "500",
        "--output-tokens",
        "50",
        "--load",
        "10rps",
        "--gpu-types",
        "L4",
        "--precisions",
        "int4",
        "--json",
    )
    data = json.loads(text)
    assert data["chosen"]["gpu_type"] == "L4" and data["chosen"]["requests_per_s"] >= 9


def test_unknown_model_is_a_command_error():
    with pytest.raises(CommandError, match="--model: Unknown model"):
        run("--model", "llama-3.1-9b", "--input-tokens", "1", "--output-tokens", "1")


def test_parse_load():
    assert parse_load("50").concurrency == 50
    assert parse_load("5rps").requests_per_second == 5.0
    assert parse_load("2.5/s").requests_per_second == 2.5
    with pytest.raises(CommandError):
        parse_load("lots")
