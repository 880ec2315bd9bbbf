from django.apps import AppConfig


class UsecasesConfig(AppConfig):
    """The SLO catalog of AI use cases."""

    name = "usecases"
    verbose_name = "Usecase SLO catalog"
