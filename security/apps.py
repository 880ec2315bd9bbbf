from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """API tokens, tenant service accounts, rate limits and login protection."""

    name = "security"
