import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ServiceAccount(models.Model):
    """A tenant's identity for pipelines (CI/CD): a user that cannot log in, with one role in one tenant.

    The account is backed by a Django user with an unusable password and a Membership, so every tenant scope and
    role check in the product applies to it unchanged; its tokens belong to that user.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="service_accounts")
    name = models.SlugField(max_length=100)
    description = models.TextField(blank=True, default="")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_account")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["tenant__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], condition=Q(is_active=True), name="unique_active_service_account_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.tenant.name})"


class ApiToken(models.Model):
    """A named API key of a user or service account, stored as a SHA-256 digest; the key is shown once."""

    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it in lists.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.WRITE)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"], condition=Q(revoked_at__isnull=True), name="unique_live_token_name_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class LoginAttempt(models.Model):
    """One sign-in attempt on the console or the admin: failures lock the username or the address for a while."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    succeeded = models.BooleanField(default=False)
    locked_out = models.BooleanField(default=False, help_text="Refused because the username or address was locked.")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["username", "at"]), models.Index(fields=["ip", "at"])]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} ({'ok' if self.succeeded else 'failed'})"
