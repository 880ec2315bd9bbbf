"""Reading YAML files of `system_templates/` and validating them against their JSON Schema.

Shared by the component and the template sync: every problem is reported as `path: field.path: reason`, and a
bad file never stops the other files from loading.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from django.conf import settings
from jsonschema import Draft202012Validator

from core.schema_messages import json_message

SYSTEM_DIR = Path(settings.BASE_DIR) / "system_templates"
SCHEMA_DIR = SYSTEM_DIR / "schema"


@dataclass
class LoadedFile:
    """One YAML file: its path relative to the root, its data when it parsed, and its problems."""

    path: str
    data: dict | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.data is not None and not self.errors

    def error(self, field_path: str, reason: str) -> None:
        self.errors.append(f"{self.path}: {field_path or '(root)'}: {reason}")


@dataclass
class SyncReport:
    """What a sync did (or, with --check, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def classify(self, key: str, row, content: dict, *, path: str, active: bool) -> bool:
        """File the row of a system file under created / updated / reactivated / unchanged (warning when its
        content changed without a version bump). Returns whether the row is to be written."""
        if row is None:
            self.created.append(key)
        elif row.version != content["version"]:
            self.updated.append(key)
        elif not active:
            self.reactivated.append(key)
        else:
            self.unchanged.append(key)
            if row.content_hash != content_hash(content):
                self.warnings.append(
                    f"{path}: version: content changed but version {content['version']!r} did not; "
                    "bump the version to apply it"
                )
            return False
        return True

    def summary(self, kind: str) -> str:
        return (
            f"{kind}: {len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.reactivated)} reactivated, {len(self.deactivated)} deactivated, {len(self.errors)} errors"
        )


@lru_cache(maxsize=4)
def schema_validator(name: str) -> Draft202012Validator:
    """The validator of `system_templates/schema/<name>.schema.json`, with `format` checked (e.g. `regex`)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(validator: Draft202012Validator, data) -> list[tuple[str, str]]:
    """[(field.path, reason)] for every schema violation; a missing key is reported at its own path."""
    problems: list[tuple[str, str]] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            instance = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in instance:
                    problems.append((".".join([*path, name]), "this field is required"))
            continue
        if error.validator == "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in allowed:
                    problems.append((".".join([*path, name]), "unknown field"))
            continue
        if error.validator == "format" and error.cause is not None:
            problems.append((".".join(path), f"not a valid {error.validator_value}: {error.cause}"))
            continue
        problems.append((".".join(path), json_message(error)))
    return problems


def content_hash(content: dict) -> str:
    """A stable hash of a content dict (key order does not matter)."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def load_directory(root: Path, subdirectory: str, schema: str) -> list[LoadedFile]:
    """Parse and schema-validate every *.yaml / *.yml file under root/subdirectory, in path order.

    Files sharing an id are all flagged: which of them is right is for a person to decide."""
    validator = schema_validator(schema)
    base = Path(root) / subdirectory
    files: list[LoadedFile] = []
    paths = sorted([*base.rglob("*.yaml"), *base.rglob("*.yml")]) if base.is_dir() else []
    for path in paths:
        loaded = LoadedFile(path=str(path.relative_to(root)))
        files.append(loaded)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            loaded.error("(yaml)", f"YAML syntax error: {getattr(exc, 'problem', None) or exc}{where}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            loaded.error("(file)", f"cannot read: {exc}")
            continue
        if not isinstance(data, dict):
            loaded.error("(root)", "the file must hold a mapping")
            continue
        loaded.data = data
        for field_path, reason in schema_errors(validator, data):
            loaded.error(field_path, reason)
    by_id: dict[str, list[LoadedFile]] = {}
    for loaded in files:
        if loaded.data is not None and isinstance(loaded.data.get("id"), str):
            by_id.setdefault(loaded.data["id"], []).append(loaded)
    for file_id, group in by_id.items():
        if len(group) > 1:
            for loaded in group:
                others = ", ".join(other.path for other in group if other is not loaded)
                loaded.error("id", f"duplicate id {file_id!r} (also in {others})")
    return files
