"""Writes of the component registry: the YAML sync (system components) and curation."""

from __future__ import annotations

from django.db import transaction

from components.loader import LoadedFile, SyncReport, content_hash
from components.models import ComponentDefinition, ComponentVersion

# Keys a YAML file may leave out, with the value they stand for (so hashes and rows never disagree).
_DEFAULTS = {
    "description": "",
    "job_type": ComponentDefinition.JobType.SERVICE,
    "helm_repo": "",
    "helm_chart": "",
    "helm_version": "",
    "default_values": {},
    "image": "",
    "image_tag": "",
    "port": None,
    "default_env": {},
    "config_env": {},
    "default_resources": {},
    "required_inputs": [],
    "outputs": [],
    "health_check_path": "",
    "aliases": [],
    "tags": [],
}


def component_content(data: dict) -> dict:
    """A definition's full content from a YAML mapping, defaults filled in (`id` included)."""
    content = {"id": data["id"]}
    for name in ComponentDefinition.CONTENT_FIELDS:
        default = _DEFAULTS.get(name)
        content[name] = data.get(name, default.copy() if isinstance(default, (dict, list)) else default)
    content["version"] = str(content["version"])
    return content


def _tags_text(tags: list[str]) -> str:
    return "," + ",".join(tag.lower() for tag in tags) + "," if tags else ""


def _apply(definition: ComponentDefinition, content: dict, *, source_file: str) -> None:
    for name in ComponentDefinition.CONTENT_FIELDS:
        setattr(definition, name, content[name])
    definition.tags_text = _tags_text(content["tags"])
    definition.source_file = source_file
    definition.content_hash = content_hash(content)
    definition.is_system = True
    definition.is_active = True


def component_files_contents(files: list[LoadedFile]) -> dict[str, dict]:
    """{id: content} of the files that loaded without errors."""
    return {loaded.data["id"]: component_content(loaded.data) for loaded in files if loaded.ok}


def component_sync(
    *, files: list[LoadedFile], prune: bool = False, dry_run: bool = False, database: bool = True
) -> SyncReport:
    """Create new system components, update those whose version changed, skip unchanged ones; with `prune`
    deactivate system components whose file is gone. `dry_run` reports and writes nothing; `database=False`
    (a dry run before migrations) compares against an empty registry."""
    report = SyncReport()
    for loaded in files:
        report.errors.extend(loaded.errors)
    contents = {loaded.data["id"]: (loaded, component_content(loaded.data)) for loaded in files if loaded.ok}
    existing = ComponentDefinition.objects.in_bulk(list(contents)) if database else {}
    aliases_taken: dict[str, str] = {}
    for component_id, (loaded, content) in contents.items():
        for alias in content["aliases"]:
            if (alias in contents and alias != component_id) or aliases_taken.get(alias, component_id) != component_id:
                report.errors.append(
                    f"{loaded.path}: aliases: {alias!r} is already the id or alias of another component"
                )
            aliases_taken[alias] = component_id
    for component_id, (loaded, content) in contents.items():
        row = existing.get(component_id)
        active = row is not None and row.is_active
        if not report.classify(component_id, row, content, path=loaded.path, active=active):
            continue
        if not dry_run:
            _write(row, content, source_file=loaded.path)
    if prune and database:
        stale = ComponentDefinition.objects.filter(is_system=True, is_active=True).exclude(pk__in=list(contents))
        # A file that failed to load is not "gone": its row stays active until the file is fixed or removed.
        failed_ids = {loaded.data.get("id") for loaded in files if loaded.data is not None and not loaded.ok}
        stale = stale.exclude(pk__in=[i for i in failed_ids if isinstance(i, str)])
        report.deactivated.extend(stale.values_list("pk", flat=True))
        if not dry_run and report.deactivated:
            ComponentDefinition.objects.filter(pk__in=report.deactivated).update(is_active=False)
    return report


@transaction.atomic
def _write(row: ComponentDefinition | None, content: dict, *, source_file: str) -> ComponentDefinition:
    definition = row or ComponentDefinition(id=content["id"])
    _apply(definition, content, source_file=source_file)
    definition.save()
    if not ComponentVersion.objects.filter(definition=definition, version=content["version"]).exists():
        ComponentVersion.objects.create(definition=definition, version=content["version"], content=content)
    return definition
