"""Every write to the catalog: create, update (a new version each time), delete/undelete, restore, import, cache."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import Conflict, NotFound, ValidationError
from usecases import caching, selectors
from usecases.industries import industry_spellings
from usecases.models import UseCase, UseCaseCache, UseCaseTag, UseCaseVersion
from usecases.selectors import CONTENT_FIELDS, usecase_snapshot
from usecases.validation import clean_usecase, industry_key, usecase_entry_cleaner

IMPORT_BATCH = 1000


class ImportRejected(ValidationError):
    """An all-or-nothing import with invalid entries: nothing was written; `report` says what and where."""

    def __init__(self, report: dict):
        self.report = report
        errors = {
            f"usecases.{item['index']}.{field}": messages
            for item in report["errors"]
            for field, messages in item["errors"].items()
        }
        count = len(report["errors"])
        super().__init__(errors, detail=f"{count} of {report['total']} entries are invalid; nothing was imported.")


def _apply(usecase: UseCase, snapshot: dict) -> None:
    for field in CONTENT_FIELDS:
        setattr(usecase, field, snapshot[field])


def _record_version(*, usecase: UseCase, kind: str, snapshot: dict, user=None) -> UseCaseVersion:
    return UseCaseVersion.objects.create(
        usecase=usecase, version=usecase.version, kind=kind, snapshot=snapshot, created_by=_user_or_none(user)
    )


def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _set_tags(usecase: UseCase, tags: list[str]) -> None:
    current = {tag.name for tag in usecase.tags.all()}
    wanted = set(tags)
    if current - wanted:
        UseCaseTag.objects.filter(usecase=usecase, name__in=current - wanted).delete()
    UseCaseTag.objects.bulk_create([UseCaseTag(usecase=usecase, name=name) for name in sorted(wanted - current)])
    if hasattr(usecase, "_prefetched_objects_cache"):
        usecase._prefetched_objects_cache.pop("tags", None)


def _drop_cached_values(usecase_ids: Iterable[int]) -> None:
    UseCaseCache.objects.filter(usecase_id__in=list(usecase_ids)).delete()


@transaction.atomic
def usecase_create(*, data: dict, user=None) -> UseCase:
    """Validate and add a use case (version 1)."""
    snapshot = clean_usecase(data, industries=industry_spellings())
    existing = UseCase.objects.filter(unique_id=snapshot["unique_id"]).values_list("is_active", flat=True).first()
    if existing is not None:
        message = "A use case with this unique_id already exists."
        if existing is False:
            message = "A deleted use case has this unique_id; undelete it instead."
        raise ValidationError({"unique_id": [message]})
    usecase = UseCase(unique_id=snapshot["unique_id"])
    _apply(usecase, snapshot)
    try:
        with transaction.atomic():
            usecase.save()
    except IntegrityError:
        raise Conflict("A use case with this unique_id was created at the same time.") from None
    _set_tags(usecase, snapshot["tags"])
    _record_version(usecase=usecase, kind=UseCaseVersion.Kind.CREATED, snapshot=snapshot, user=user)
    caching.invalidate([usecase.unique_id])
    return usecase


@transaction.atomic
def usecase_update(
    *, usecase: UseCase, data: dict, partial: bool = False, user=None, kind: str = UseCaseVersion.Kind.UPDATED
) -> UseCase:
    """Replace (or, with partial=True, patch) a use case's content; a real change records a new version."""
    locked = UseCase.objects.select_for_update().prefetch_related("tags").get(pk=usecase.pk)
    current = usecase_snapshot(locked)
    if "unique_id" in data and str(data["unique_id"]).strip() != locked.unique_id:
        raise ValidationError({"unique_id": ["The unique_id of a use case cannot be changed."]})
    base = current if partial else {"unique_id": locked.unique_id}
    snapshot = clean_usecase(data, base=base, industries=industry_spellings())
    if snapshot == current:
        return locked
    _apply(locked, snapshot)
    locked.version += 1
    locked.save()
    _set_tags(locked, snapshot["tags"])
    _record_version(usecase=locked, kind=kind, snapshot=snapshot, user=user)
    _drop_cached_values([locked.pk])
    caching.invalidate([locked.unique_id])
    return locked


@transaction.atomic
def usecase_restore_version(*, usecase: UseCase, version: int, user=None) -> UseCase:
    """Make a past version's content current again, recorded as a new version."""
    past = UseCaseVersion.objects.filter(usecase=usecase, version=version).first()
    if past is None:
        raise NotFound(f"Version {version} of {usecase.unique_id!r} does not exist.")
    return usecase_update(usecase=usecase, data=past.snapshot, user=user, kind=UseCaseVersion.Kind.RESTORED)


@transaction.atomic
def usecase_delete(*, usecase: UseCase, hard: bool = False) -> None:
    """Soft-delete (is_active=False, restorable) or, with hard=True, remove the use case and its history."""
    if hard:
        UseCase.objects.filter(pk=usecase.pk).delete()
    elif not UseCase.objects.filter(pk=usecase.pk, is_active=True).update(is_active=False, updated_at=timezone.now()):
        raise NotFound(f"Use case {usecase.unique_id!r} is already deleted.")
    else:
        _drop_cached_values([usecase.pk])
    usecase.is_active = False
    caching.invalidate([usecase.unique_id])


@transaction.atomic
def usecase_undelete(*, usecase: UseCase) -> UseCase:
    """Bring a soft-deleted use case back."""
    if not UseCase.objects.filter(pk=usecase.pk, is_active=False).update(is_active=True, updated_at=timezone.now()):
        raise Conflict(f"Use case {usecase.unique_id!r} is not deleted.")
    caching.invalidate([usecase.unique_id])
    return UseCase.objects.prefetch_related("tags").get(pk=usecase.pk)


def _import_entries(data) -> list:
    if isinstance(data, dict) and set(data) == {"usecases"}:
        data = data["usecases"]
    if not isinstance(data, list):
        raise ValidationError({"non_field_errors": ['Expected a JSON list of use cases or {"usecases": [...]}.']})
    return data


def usecases_import(*, data, partial: bool = False, dry_run: bool = False, user=None) -> dict:
    """Upsert use cases by unique_id from a list (or {"usecases": [...]}); all-or-nothing unless partial=True.

    An entry's `is_active` (absent: true) is honoured, so an export with soft-deleted use cases round-trips;
    soft-deleting an active use case this way needs the delete permission when a `user` is given.
    Returns {"total", "created", "updated", "unchanged", "errors": [{"index", "unique_id", "errors"}], "written"}.
    Raises ImportRejected (nothing written) when an entry is invalid and partial is False.
    """
    entries = _import_entries(data)
    can_delete = user is None or user.has_perm(f"{UseCase._meta.app_label}.delete_{UseCase._meta.model_name}")
    with transaction.atomic():
        report, creates, updates = _import_plan(entries, can_delete=can_delete)
        if report["errors"] and not partial:
            raise ImportRejected(report)
        report["written"] = not dry_run and bool(creates or updates)
        if report["written"]:
            _import_write(creates, updates, user=user)
    return report


def _import_plan(
    entries: list, *, can_delete: bool
) -> tuple[dict, list[tuple[dict, bool]], list[tuple[UseCase, dict, bool]]]:
    industries = dict(industry_spellings())
    clean_entry = usecase_entry_cleaner(industries=industries)
    report = {"total": len(entries), "created": 0, "updated": 0, "unchanged": 0, "errors": [], "written": False}
    cleaned: list[tuple[int, dict, bool]] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        unique_id = entry.get("unique_id") if isinstance(entry, dict) else None
        try:
            snapshot, active = clean_entry(entry)
        except ValidationError as exc:
            report["errors"].append({"index": index, "unique_id": unique_id, "errors": exc.errors})
            continue
        if snapshot["unique_id"] in first_index:
            message = f"Duplicate unique_id in this file (first at index {first_index[snapshot['unique_id']]})."
            report["errors"].append({"index": index, "unique_id": unique_id, "errors": {"unique_id": [message]}})
            continue
        first_index[snapshot["unique_id"]] = index
        industries.setdefault(industry_key(snapshot["industry"]), snapshot["industry"])
        cleaned.append((index, snapshot, active))

    ids = [snapshot["unique_id"] for _, snapshot, _ in cleaned]
    existing: dict[str, UseCase] = {}
    for start in range(0, len(ids), IMPORT_BATCH):
        rows = UseCase.objects.select_for_update().filter(unique_id__in=ids[start : start + IMPORT_BATCH])
        existing.update({row.unique_id: row for row in rows.prefetch_related("tags")})
    creates, updates = [], []
    for index, snapshot, active in cleaned:
        row = existing.get(snapshot["unique_id"])
        if row is None:
            creates.append((snapshot, active))
        elif row.is_active == active and usecase_snapshot(row) == snapshot:
            report["unchanged"] += 1
        elif row.is_active and not active and not can_delete:
            message = "Soft-deleting a use case needs the delete permission."
            report["errors"].append(
                {"index": index, "unique_id": snapshot["unique_id"], "errors": {"is_active": [message]}}
            )
        else:
            updates.append((row, snapshot, active))
    report["errors"].sort(key=lambda error: error["index"])
    report["created"], report["updated"] = len(creates), len(updates)
    return report, creates, updates


def _import_write(creates: list[tuple[dict, bool]], updates: list[tuple[UseCase, dict, bool]], *, user) -> None:
    now = timezone.now()
    user = _user_or_none(user)
    new_rows = []
    for snapshot, active in creates:
        row = UseCase(unique_id=snapshot["unique_id"], is_active=active, created_at=now, updated_at=now)
        _apply(row, snapshot)
        new_rows.append(row)
    try:
        with transaction.atomic():
            UseCase.objects.bulk_create(new_rows, batch_size=IMPORT_BATCH)
    except IntegrityError:
        raise Conflict("Another writer created some of these use cases at the same time; retry the import.") from None
    if new_rows and new_rows[0].pk is None:  # pragma: no cover - backends without RETURNING
        pks = dict(UseCase.objects.filter(unique_id__in=[r.unique_id for r in new_rows]).values_list("unique_id", "pk"))
        for row in new_rows:
            row.pk = pks[row.unique_id]
    for row, snapshot, active in updates:
        _apply(row, snapshot)
        row.version += 1
        row.is_active = active
        row.updated_at = now
    # One UPDATE per row: bulk_update's CASE-per-column statement costs more (in Django, building it) than it saves.
    update_fields = [*CONTENT_FIELDS, "version", "is_active", "updated_at"]
    for row, _, _ in updates:
        UseCase.objects.filter(pk=row.pk).update(**{field: getattr(row, field) for field in update_fields})
    updated_ids = [row.pk for row, _, _ in updates]
    for start in range(0, len(updated_ids), IMPORT_BATCH):
        UseCaseTag.objects.filter(usecase_id__in=updated_ids[start : start + IMPORT_BATCH]).delete()
        _drop_cached_values(updated_ids[start : start + IMPORT_BATCH])
    written = [
        *((row, snapshot) for row, (snapshot, _) in zip(new_rows, creates, strict=True)),
        *((row, snapshot) for row, snapshot, _ in updates),
    ]
    UseCaseTag.objects.bulk_create(
        [UseCaseTag(usecase=row, name=tag) for row, snapshot in written for tag in snapshot["tags"]],
        batch_size=IMPORT_BATCH,
    )
    UseCaseVersion.objects.bulk_create(
        [
            UseCaseVersion(
                usecase=row,
                version=row.version,
                kind=UseCaseVersion.Kind.IMPORTED,
                snapshot=snapshot,
                created_by=user,
                created_at=now,
            )
            for row, snapshot in written
        ],
        batch_size=IMPORT_BATCH,
    )
    caching.invalidate(row.unique_id for row, _ in written)


def cache_value(*, usecase: UseCase | str, key: str, value: Any, ttl_seconds: int | None = None) -> UseCaseCache:
    """Store a computed value (e.g. hardware recommendations) for a use case; it expires after ttl_seconds."""
    usecase = _resolve(usecase)
    expires_at = timezone.now() + timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
    entry, _ = UseCaseCache.objects.update_or_create(
        usecase=usecase, key=key, defaults={"value": value, "expires_at": expires_at}
    )
    return entry


def get_cached_value(*, usecase: UseCase | str, key: str, default: Any = None) -> Any:
    """The value stored by cache_value, or `default` when absent, expired or dropped by a change to the use case."""
    usecase = _resolve(usecase)
    entry = UseCaseCache.objects.filter(usecase=usecase, key=key).first()
    if entry is None:
        return default
    if entry.expires_at is not None and entry.expires_at <= timezone.now():
        UseCaseCache.objects.filter(pk=entry.pk, expires_at=entry.expires_at).delete()
        return default
    return entry.value


def usecase_cache_purge_expired() -> int:
    """Delete expired cached values; returns how many."""
    deleted, _ = UseCaseCache.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def _resolve(usecase: UseCase | str) -> UseCase:
    if isinstance(usecase, UseCase):
        return usecase
    return selectors.usecase_get(unique_id=usecase, include_inactive=True)
