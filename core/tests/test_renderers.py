import datetime
import uuid
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from core.renderers import FastJSONRenderer


def test_the_same_bytes_as_drfs_renderer():
    data = {
        "status": "success",
        "at": datetime.datetime(2026, 12, 1, 3, 4, 5, 678901, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 12, 1),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "amount": Decimal("12.30"),
        "values": [[1764558245.0, "0.123"], [1764558305, "1e-05"]],
        "text": "ünïcode — ok",
        "nested": {"none": None, "flag": True, "float": 0.1 + 0.2},
    }
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_an_indented_answer_is_drfs():
    renderer = FastJSONRenderer()
    body = renderer.render({"a": [1]}, "application/json; indent=2", {})
    assert body == JSONRenderer().render({"a": [1]}, "application/json; indent=2", {})
    assert b"\n" in body


def test_a_value_neither_writes_is_refused_alike():
    with pytest.raises(TypeError):
        FastJSONRenderer().render({"x": object()})
