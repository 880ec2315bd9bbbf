"""Writes of templates: the YAML sync of system templates, and user templates (create, update, fork, restore)."""

from __future__ import annotations

import copy
from pathlib import PurePath

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from audit.services import audit_record
from components.loader import LoadedFile, SyncReport, content_hash, schema_errors, schema_validator
from components.services import bump_version
from core.exceptions import Conflict, NotFound, PermissionDenied, ValidationError
from templates_app.models import TemplateRevision, UseCaseTemplate
from templates_app.structure import check_template
from tenancy.models import Tenant
from tenancy.selectors import require_write

_DEFAULTS = {
    "description": "",
    "complexity": UseCaseTemplate.Complexity.SIMPLE,
    "tags": [],
    "routing": None,
    "observability": None,
    "max_retries": 2,
}


def template_content(data: dict) -> dict:
    """A template's full content from a YAML mapping or API body, defaults filled in (`id` is the slug)."""
    content = {"id": data["id"]}
    for name in UseCaseTemplate.CONTENT_FIELDS:
        default = _DEFAULTS.get(name)
        value = data.get(name, copy.deepcopy(default))
        content[name] = copy.deepcopy(value)
    content["version"] = str(content["version"])
    return content


def _apply(template: UseCaseTemplate, content: dict) -> None:
    for name in UseCaseTemplate.CONTENT_FIELDS:
        setattr(template, name, copy.deepcopy(content[name]))
    template.slug = content["id"]
    template.tags_text = "," + ",".join(t.lower() for t in content["tags"]) + "," if content["tags"] else ""
    template.content_hash = content_hash(content)


def _changed_fields(old: dict | None, new: dict) -> list[str]:
    if old is None:
        return sorted(new)
    return sorted(name for name in new if old.get(name) != new.get(name))


def _record_revision(template: UseCaseTemplate, *, old: dict | None, source: str, user=None) -> TemplateRevision:
    content = template.as_content()
    last = template.revisions.aggregate(last=Max("revision"))["last"] or 0
    kept = (TemplateRevision.Source.FORK, TemplateRevision.Source.RESTORE)
    action = source if source in kept else ("create" if old is None else "update")
    audit_record(action=str(action), obj=template, before=old or {}, after=content)
    return TemplateRevision.objects.create(
        template=template,
        revision=last + 1,
        version=template.version,
        content=content,
        changed_fields=_changed_fields(old, content),
        source=source,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


# --- system templates from YAML ---------------------------------------------------------------------------------


def template_sync(
    *,
    files: list[LoadedFile],
    component_defs: dict,
    prune: bool = False,
    dry_run: bool = False,
    database: bool = True,
) -> SyncReport:
    """Create new system templates, update those whose version changed (recording a revision), skip unchanged
    ones; with `prune` deactivate system templates whose file is gone. `dry_run` writes nothing."""
    report = SyncReport()
    contents: dict[str, tuple[LoadedFile, dict]] = {}
    for loaded in files:
        report.errors.extend(loaded.errors)
        if not loaded.ok:
            continue
        content = template_content(loaded.data)
        folder = PurePath(loaded.path).parent.as_posix()
        if folder != f"templates/{content['category']}":
            report.errors.append(
                f"{loaded.path}: category: {content['category']!r} does not match the folder {folder}/ "
                f"(a template lives in templates/<category>/)"
            )
            continue
        problems = check_template(content, component_defs=component_defs)
        if problems:
            report.errors.extend(
                f"{loaded.path}: {path}: {reason}" for path, reasons in problems.items() for reason in reasons
            )
            continue
        contents[content["id"]] = (loaded, content)
    existing = (
        {t.slug: t for t in UseCaseTemplate.objects.filter(tenant__isnull=True, slug__in=list(contents))}
        if database
        else {}
    )
    for slug, (loaded, content) in contents.items():
        row = existing.get(slug)
        active = row is not None and row.is_active and row.deleted_at is None
        if not report.classify(slug, row, content, path=loaded.path, active=active):
            continue
        if not dry_run:
            _write_system(row, content, source_file=loaded.path)
    if prune and database:
        failed = {f.data.get("id") for f in files if f.data is not None and not f.ok} | {
            f.data.get("id") for f in files if f.ok and f.data.get("id") not in contents
        }
        stale = UseCaseTemplate.objects.filter(is_system=True, is_active=True).exclude(
            slug__in=[*contents, *(s for s in failed if isinstance(s, str))]
        )
        report.deactivated.extend(stale.values_list("slug", flat=True))
        if not dry_run and report.deactivated:
            UseCaseTemplate.objects.filter(is_system=True, slug__in=report.deactivated).update(
                is_active=False, updated_at=timezone.now()
            )
    return report


@transaction.atomic
def _write_system(row: UseCaseTemplate | None, content: dict, *, source_file: str) -> UseCaseTemplate:
    old = row.as_content() if row is not None else None
    template = row or UseCaseTemplate(is_system=True, tenant=None)
    _apply(template, content)
    template.source_file = source_file
    template.is_active = True
    template.deleted_at = None
    template.save()
    _record_revision(template, old=old, source=TemplateRevision.Source.SEED)
    return template


# --- user templates ---------------------------------------------------------------------------------------------


def template_validate_content(content: dict, *, component_defs: dict | None = None) -> None:
    """Raise ValidationError (field paths) unless `content` matches the template schema and is structurally sound."""
    errors: dict[str, list[str]] = {}
    for path, reason in schema_errors(schema_validator("template"), content):
        errors.setdefault("slug" if path == "id" else path, []).append(reason)
    if not errors:
        errors.update(check_template(content, component_defs=component_defs))
    if errors:
        raise ValidationError(errors)


def _require_writable(user, template: UseCaseTemplate) -> None:
    if template.is_system:
        raise PermissionDenied("System templates are read-only: they change by pull request. Fork one instead.")
    require_write(user, template.tenant_id)


def _unique_slug(tenant: Tenant, base: str, *, exclude_pk=None) -> str:
    taken = set(
        UseCaseTemplate.objects.filter(tenant=tenant, deleted_at__isnull=True, slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _save_user_template(template: UseCaseTemplate) -> None:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ValidationError({"slug": ["A template with this slug already exists in the tenant."]}) from None


@transaction.atomic
def template_create(*, user, tenant: Tenant, slug: str | None = None, **fields) -> UseCaseTemplate:
    """Create a user template in a tenant where the user may write; its first revision records the content."""
    require_write(user, tenant.pk)
    slug = slug or slugify(fields.get("name", ""))[:100] or "template"
    content = template_content({"id": slug, **fields})
    template_validate_content(content)
    template = UseCaseTemplate(tenant=tenant, is_system=False, created_by=user)
    _apply(template, content)
    _save_user_template(template)
    _record_revision(template, old=None, source=TemplateRevision.Source.API, user=user)
    return template


@transaction.atomic
def template_update(*, user, template: UseCaseTemplate, source: str = TemplateRevision.Source.API, **fields):
    """Change a user template and record a revision. A content change keeps versions unambiguous: without a new
    `version` the last number is bumped (1.0.0 -> 1.0.1); a version already used for other content is a 400."""
    _require_writable(user, template)
    template = UseCaseTemplate.objects.select_for_update().get(pk=template.pk)
    old = template.as_content()
    slug = fields.pop("slug", None) or template.slug
    content = template_content({**old, **fields, "id": slug})
    template_validate_content(content)
    if content == old:
        return template
    versions = set(template.revisions.values_list("version", flat=True))
    if content["version"] == old["version"]:
        content["version"] = bump_version(old["version"], versions)
    elif content["version"] in versions:
        previous = template.revisions.filter(version=content["version"]).order_by("-revision").first()
        comparable = {**previous.content, "id": content["id"]}
        if comparable != content:
            raise ValidationError({"version": [f"Version {content['version']!r} was already used for other content."]})
    _apply(template, content)
    _save_user_template(template)
    _record_revision(template, old=old, source=source, user=user)
    return template


@transaction.atomic
def template_delete(*, user, template: UseCaseTemplate) -> None:
    """Soft-delete a user template: it disappears from lists; its revisions and forks stay."""
    _require_writable(user, template)
    if UseCaseTemplate.objects.filter(pk=template.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now(), is_active=False, updated_at=timezone.now()
    ):
        audit_record(action="delete", obj=template, before={"is_active": True}, after={"is_active": False})


@transaction.atomic
def template_fork(
    *, user, template: UseCaseTemplate, tenant: Tenant, slug: str | None = None, name: str | None = None
) -> UseCaseTemplate:
    """Copy a system (or own) template into a tenant, with forked_from set; the copy is a normal user template."""
    require_write(user, tenant.pk)
    if not template.is_active:
        raise Conflict("This template is inactive.")
    if not template.is_system and template.tenant_id != tenant.pk:
        raise ValidationError({"tenant_id": ["A user template can only be forked inside its own tenant."]})
    content = template.as_content()
    content["id"] = slug or _unique_slug(tenant, template.slug)
    if name:
        content["name"] = name
    template_validate_content(content)
    fork = UseCaseTemplate(
        tenant=tenant,
        is_system=False,
        created_by=user,
        forked_from=template,
        forked_from_version=template.version,
    )
    _apply(fork, template_content(content))
    _save_user_template(fork)
    _record_revision(fork, old=None, source=TemplateRevision.Source.FORK, user=user)
    return fork


@transaction.atomic
def template_restore(*, user, template: UseCaseTemplate, revision: int) -> UseCaseTemplate:
    """Make a user template's content what it was at `revision`, recorded as a new revision."""
    _require_writable(user, template)
    old_revision = template.revisions.filter(revision=revision).first()
    if old_revision is None:
        raise NotFound(f"No revision {revision} of this template.")
    template = UseCaseTemplate.objects.select_for_update().get(pk=template.pk)
    old = template.as_content()
    content = template_content({**old_revision.content, "id": template.slug})
    if content == old:
        return template
    _apply(template, content)
    _save_user_template(template)
    _record_revision(template, old=old, source=TemplateRevision.Source.RESTORE, user=user)
    return template
