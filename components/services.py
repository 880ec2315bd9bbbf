"""Writes of the component registry: the YAML sync (system components) and curation."""

from __future__ import annotations

import re

from django.db import transaction

from components.loader import LoadedFile, SyncReport, content_hash, schema_errors, schema_validator
from components.models import ComponentDefinition, ComponentVersion
from core.exceptions import PermissionDenied, ValidationError

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


def _apply(definition: ComponentDefinition, content: dict) -> None:
    for name in ComponentDefinition.CONTENT_FIELDS:
        setattr(definition, name, content[name])
    definition.tags_text = _tags_text(content["tags"])
    definition.content_hash = content_hash(content)


def bump_version(version: str, used: set[str]) -> str:
    """`version` with its last number raised (1.0.0 -> 1.0.1) until it is not in `used`."""
    match = re.match(r"^(.*?)(\d+)([^\d]*)$", version)
    candidate = version
    while candidate in used:
        if match:
            prefix, number, suffix = match.groups()
            candidate = f"{prefix}{int(number) + 1}{suffix}"
            match = re.match(r"^(.*?)(\d+)([^\d]*)$", candidate)
        else:
            candidate = f"{candidate}.1"
    return candidate


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
    _apply(definition, content)
    definition.source_file = source_file
    definition.is_system = True
    definition.is_active = True
    definition.save()
    _record_version(definition, content)
    return definition


def _record_version(definition: ComponentDefinition, content: dict) -> None:
    if not ComponentVersion.objects.filter(definition=definition, version=content["version"]).exists():
        ComponentVersion.objects.create(definition=definition, version=content["version"], content=content)


# --- curation (the admin) ---------------------------------------------------------------------------------------


def component_validate_content(content: dict, *, definition: ComponentDefinition | None = None) -> None:
    """Raise ValidationError (field paths) unless `content` (from `component_content`) is what a valid YAML file
    would give, its id and aliases are free, and its version is not one `definition` used for other content."""
    # A key left at its default is a key the file leaves out, so `required` applies as it does to a file.
    data = {name: value for name, value in content.items() if name not in _DEFAULTS or value != _DEFAULTS[name]}
    errors: dict[str, list[str]] = {}
    for path, reason in schema_errors(schema_validator("component"), data):
        errors.setdefault(path, []).append(reason)
    owners: dict[str, str] = {}
    for other_id, aliases in ComponentDefinition.objects.exclude(pk=content["id"]).values_list("pk", "aliases"):
        owners[other_id] = other_id
        for alias in aliases or ():
            owners.setdefault(alias, other_id)
    if owners.get(content["id"]) not in (None, content["id"]):
        errors.setdefault("id", []).append(f"{content['id']!r} is an alias of {owners[content['id']]!r}")
    for j, alias in enumerate(content["aliases"] if isinstance(content["aliases"], list) else ()):
        if alias == content["id"] or alias in owners:
            errors.setdefault(f"aliases.{j}", []).append(f"{alias!r} is already the id or alias of a component")
    if definition is not None and content["version"] != definition.version:
        previous = definition.versions.filter(version=content["version"]).first()
        if previous is not None and previous.content != content:
            errors.setdefault("version", []).append(
                f"Version {content['version']!r} was already used for other content."
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def component_create(*, data: dict, is_active: bool = True) -> ComponentDefinition:
    """Add a curated component: validated like a YAML file, never a system row (so a prune leaves it alone),
    its first version recorded."""
    content = component_content(data)
    component_validate_content(content)
    if ComponentDefinition.objects.filter(pk=content["id"]).exists():
        raise ValidationError({"id": ["A component with this id already exists."]})
    definition = ComponentDefinition(id=content["id"], is_system=False, is_active=is_active, source_file="")
    _apply(definition, content)
    definition.save(force_insert=True)
    _record_version(definition, content)
    return definition


@transaction.atomic
def component_update(*, definition: ComponentDefinition, data: dict, is_active: bool | None = None):
    """Change a curated component and record its new version. Versions stay unambiguous: a content change
    without a new `version` bumps the last number (1.0.0 -> 1.0.1); a version used for other content is a 400."""
    if definition.is_system:
        raise PermissionDenied("System components are read-only: they change by pull request.")
    definition = ComponentDefinition.objects.select_for_update().get(pk=definition.pk)
    old = component_content(definition.as_definition())
    content = component_content({**old, **data, "id": definition.pk})
    component_validate_content(content, definition=definition)
    if content != old:
        if content["version"] == old["version"]:
            used = set(definition.versions.values_list("version", flat=True)) | {old["version"]}
            content["version"] = bump_version(old["version"], used)
        _apply(definition, content)
        definition.save()
        _record_version(definition, content)
    if is_active is not None and is_active != definition.is_active:
        definition.is_active = is_active
        definition.save(update_fields=["is_active", "updated_at"])
    return definition
