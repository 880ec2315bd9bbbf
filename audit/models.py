from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditImmutable(Exception):
    """An audit event cannot be changed or deleted through the product (only purged when it expires)."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditImmutable("Audit events cannot be changed.")

    def delete(self):
        raise AuditImmutable("Audit events are removed only by the retention purge (audit.services.audit_purge).")

    def _purge(self) -> int:
        # The retention purge's own path; PostgreSQL's trigger also requires the audit.purge session setting.
        return models.QuerySet.delete(self)[0]


class AuditEvent(models.Model):
    """One write: who (user or service account, and the token), when, from where, what, and the change."""

    class ActorKind(models.TextChoices):
        USER = "user"
        SERVICE_ACCOUNT = "service_account"
        SYSTEM = "system"

    class Source(models.TextChoices):
        API = "api"
        CONSOLE = "console"
        ADMIN = "admin"
        COMMAND = "command"
        SYSTEM = "system"

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and no cascade: deleting a user or tenant never rewrites or removes its history.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True, default="")
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, default=ActorKind.SYSTEM)
    token_name = models.CharField(max_length=100, blank=True, default="")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SYSTEM)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request = models.CharField(max_length=300, blank=True, default="", help_text="Method and path, or the command.")
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=100, db_index=True, help_text="app_label.model, e.g. tenancy.project")
    object_id = models.CharField(max_length=100, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    changes = models.JSONField(default=dict, blank=True, help_text="{field: {before, after}}, secrets masked.")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "at"]),
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["actor", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or 'system'} {self.action} {self.object_type}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutable("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutable("Audit events are removed only by the retention purge.")
