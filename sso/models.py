from django.conf import settings
from django.db import models
from django.db.models import Q

from tenancy.models import Membership


class GroupRoleMapping(models.Model):
    """Grants a role in a tenant, or superuser, to everyone in an identity-provider group (applied at sign-in)."""

    group = models.CharField(max_length=255, help_text="The group's name (or id, for Entra ID) in the groups claim.")
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, blank=True, default="")
    is_superuser = models.BooleanField(default=False, help_text="Members of the group are superusers and staff.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "tenant__name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "tenant"], name="one_mapping_per_group_tenant"),
            # Either a tenant role or superuser: a row that grants nothing, or half a grant, is refused.
            models.CheckConstraint(
                condition=(Q(tenant__isnull=False) & ~Q(role="")) | Q(tenant__isnull=True, role="", is_superuser=True),
                name="mapping_grants_a_tenant_role_or_superuser",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {'superuser' if self.tenant_id is None else f'{self.tenant}: {self.role}'}"


class ExternalIdentity(models.Model):
    """Links a user to a subject of the identity provider, and remembers what the last sign-in granted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)
    superuser_from_groups = models.BooleanField(
        default=False, help_text="Superuser because of a group mapping (revoked when the group goes)."
    )
    last_login_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_issuer_subject")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
