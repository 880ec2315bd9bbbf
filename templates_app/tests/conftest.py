"""Fixtures for template tests: the shipped YAML, read without touching the database."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from components.loader import SYSTEM_DIR, load_directory
from components.services import component_files_contents
from templates_app.structure import definitions_index

SHIPPED_TEMPLATES = sorted(path.stem for path in SYSTEM_DIR.joinpath("templates").rglob("*.yaml"))
SHIPPED_COMPONENTS = sorted(path.stem for path in SYSTEM_DIR.joinpath("components").glob("*.yaml"))
T, C = len(SHIPPED_TEMPLATES), len(SHIPPED_COMPONENTS)  # counts the sync tests expect: every shipped file


@pytest.fixture(scope="session")
def _shipped_component_defs() -> dict:
    return definitions_index(component_files_contents(load_directory(SYSTEM_DIR, "components", "component")))


@pytest.fixture
def component_defs(_shipped_component_defs) -> dict:
    """{id or alias: definition} of the shipped components."""
    return copy.deepcopy(_shipped_component_defs)


def system_template(slug: str) -> dict:
    """The content of a shipped system template file."""
    path = next(SYSTEM_DIR.joinpath("templates").rglob(f"{slug}.yaml"))
    return yaml.safe_load(path.read_text())


@pytest.fixture
def system_dir(tmp_path) -> Path:
    """A writable copy of system_templates/ for sync tests."""
    target = tmp_path / "system_templates"
    shutil.copytree(SYSTEM_DIR, target)
    return target


@pytest.fixture
def seeded(db):
    """The shipped components and templates synced into the test database."""
    from templates_app.seeding import seed_templates

    result = seed_templates()
    assert result.errors == []
    return result
