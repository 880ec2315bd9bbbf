from django.apps import AppConfig


class UseCasesConfig(AppConfig):
    """The SLO catalog of AI use cases."""

    name = "usecases"
    verbose_name = "Use case SLO catalog"
