from pathlib import Path

from django.apps import AppConfig
from django.conf import settings

from core import crypto  # noqa: F401  (registers the encryption-key system check)


class CoreConfig(AppConfig):
    """Cross-cutting pieces: the API error shape, pagination, health check, encryption, start-up commands."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        local_folders_create()


def local_folders_create() -> None:
    """The folders the embedded default writes to: VAR_DIR (the SQLite file), static files, and the filesystem
    broker's folders when it is the broker. Made once at start-up, not as a side effect of importing settings."""
    folders = [Path(settings.VAR_DIR), Path(settings.STATIC_ROOT)]
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [Path(options[name]) for name in ("data_folder_in", "data_folder_out", "processed_folder")]
        folders.append(Path(options["control_folder"]))
    backend = str(getattr(settings, "CELERY_RESULT_BACKEND", "") or "")
    if backend.startswith("file://"):
        folders.append(Path(backend.removeprefix("file://")))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
