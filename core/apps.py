from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting pieces: the API error shape, pagination, health check, start-up commands."""

    name = "core"
