from django.apps import AppConfig

from core import crypto  # noqa: F401  (registers the encryption-key system check)


class CoreConfig(AppConfig):
    """Cross-cutting pieces: the API error shape, pagination, health check, encryption, start-up commands."""

    name = "core"
    verbose_name = "Core"
