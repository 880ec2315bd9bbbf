"""The single sign-on settings, read at call time (so a test or a reload sees changes), and the configured
group → role mappings."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tenancy.models import Membership

SUPERUSER = "superuser"


@dataclass(frozen=True)
class OIDCSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    provider_name: str
    claim_username: str
    claim_email: str
    claim_first_name: str
    claim_last_name: str
    claim_groups: str
    api_audience: str
    leeway: int
    timeout: float
    link_existing_users: bool

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def oidc_settings() -> OIDCSettings | None:
    """The provider's settings, or None when single sign-on is off (no OIDC_ISSUER)."""
    if not settings.OIDC_ISSUER:
        return None
    return OIDCSettings(
        issuer=settings.OIDC_ISSUER.rstrip("/"),
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        scopes=settings.OIDC_SCOPES,
        provider_name=settings.OIDC_PROVIDER_NAME,
        claim_username=settings.OIDC_CLAIM_USERNAME,
        claim_email=settings.OIDC_CLAIM_EMAIL,
        claim_first_name=settings.OIDC_CLAIM_FIRST_NAME,
        claim_last_name=settings.OIDC_CLAIM_LAST_NAME,
        claim_groups=settings.OIDC_CLAIM_GROUPS,
        api_audience=settings.OIDC_API_AUDIENCE or settings.OIDC_CLIENT_ID,
        leeway=settings.OIDC_LEEWAY_SECONDS,
        timeout=settings.OIDC_TIMEOUT_SECONDS,
        link_existing_users=settings.OIDC_LINK_EXISTING_USERS,
    )


@dataclass(frozen=True)
class ConfiguredMapping:
    group: str
    tenant_name: str | None  # None: superuser
    role: str


def configured_mappings(text: str | None = None) -> list[ConfiguredMapping]:
    """Parse OIDC_GROUP_ROLES: `group=Tenant name:role` or `group=superuser`, separated by `;`."""
    text = settings.OIDC_GROUP_ROLES if text is None else text
    mappings = []
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        group, _, target = (piece.strip() for piece in entry.rpartition("="))
        if not group or not target:
            raise ImproperlyConfigured(f"OIDC_GROUP_ROLES: {entry!r} is not `group=Tenant:role` or `group=superuser`")
        if target == SUPERUSER:
            mappings.append(ConfiguredMapping(group=group, tenant_name=None, role=""))
            continue
        tenant_name, _, role = (piece.strip() for piece in target.rpartition(":"))
        if not tenant_name or role not in Membership.Role.values:
            raise ImproperlyConfigured(
                f"OIDC_GROUP_ROLES: {entry!r} needs `Tenant:role` with a role among {', '.join(Membership.Role.values)}"
            )
        mappings.append(ConfiguredMapping(group=group, tenant_name=tenant_name, role=role))
    return mappings
