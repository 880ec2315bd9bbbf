from django.apps import AppConfig


class TemplatesAppConfig(AppConfig):
    """Use case templates: YAML system templates, user templates and the resolver."""

    name = "templates_app"
    verbose_name = "Use case templates"
