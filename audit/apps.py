from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: who changed what, when, from where; immutable, kept for a configurable time."""

    name = "audit"
