"""Sizing fixtures: the shipped use case catalog, loaded as `make run` loads it."""

from __future__ import annotations

import json

import pytest

from usecases import services
from usecases.bootstrap import FIXTURE


@pytest.fixture
def shipped_usecases(db):
    report = services.usecases_import(data=json.loads(FIXTURE.read_text(encoding="utf-8")))
    assert report["created"] > 100
    return report
