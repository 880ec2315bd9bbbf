from django.apps import AppConfig


class SizingConfig(AppConfig):
    """SLO-aware sizing: reference data, the performance model and the search (pure), their API and command."""

    name = "sizing"
    verbose_name = "Sizing"
