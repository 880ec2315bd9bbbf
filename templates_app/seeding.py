"""The seed: components then templates from a directory laid out like `system_templates/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from components.loader import SYSTEM_DIR, SyncReport, load_directory
from components.models import ComponentDefinition
from components.selectors import component_definitions_by_ref
from components.services import component_files_contents, component_sync
from templates_app.models import UseCaseTemplate
from templates_app.services import template_sync


@dataclass
class SeedResult:
    components: SyncReport
    templates: SyncReport

    @property
    def errors(self) -> list[str]:
        return [*self.components.errors, *self.templates.errors]

    @property
    def warnings(self) -> list[str]:
        return [*self.components.warnings, *self.templates.warnings]


def seed_templates(*, path: Path | str | None = None, prune: bool = False, check: bool = False) -> SeedResult:
    """Sync components then templates from YAML. Bad files are reported and skipped; the others still sync.

    With `check` every file is validated (templates against the registry as the files would leave it) and nothing
    is written. Idempotent: an unchanged second run writes nothing."""
    root = Path(path) if path else SYSTEM_DIR
    # `--check` must work on a database that was never migrated (CI validates files before anything else).
    database = not check or _registry_tables_exist()
    component_files = load_directory(root, "components", "component")
    components = component_sync(files=component_files, prune=prune, dry_run=check, database=database)
    definitions = component_definitions_by_ref() if database else {}
    if check or prune:
        # Validate against the registry the files describe, so a pruned or not-yet-written component counts.
        on_disk = component_files_contents(component_files)
        if prune:
            definitions = {key: value for key, value in definitions.items() if value["id"] in on_disk}
        for component_id, content in on_disk.items():
            definitions[component_id] = content
            for alias in content["aliases"]:
                definitions.setdefault(alias, content)
    template_files = load_directory(root, "templates", "template")
    templates = template_sync(
        files=template_files, component_defs=definitions, prune=prune, dry_run=check, database=database
    )
    return SeedResult(components=components, templates=templates)


def _registry_tables_exist() -> bool:
    tables = set(connection.introspection.table_names())
    return {ComponentDefinition._meta.db_table, UseCaseTemplate._meta.db_table} <= tables
