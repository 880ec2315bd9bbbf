from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Tenants, projects and memberships, and the request-scoping layer every API uses."""

    name = "tenancy"
    verbose_name = "Tenants and projects"
    default_auto_field = "django.db.models.BigAutoField"
