"""Reads for single sign-on: what a set of identity-provider groups grants."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sso.conf import configured_mappings
from sso.models import GroupRoleMapping
from tenancy.models import ROLE_RANK, Tenant

logger = logging.getLogger("sso")


@dataclass
class Grants:
    """What a user's groups grant: the strongest role per tenant id, and whether they make a superuser."""

    roles: dict = field(default_factory=dict)
    superuser: bool = False

    def add(self, tenant_id, role: str) -> None:
        if tenant_id not in self.roles or ROLE_RANK[role] > ROLE_RANK[self.roles[tenant_id]]:
            self.roles[tenant_id] = role


def group_grants(*, groups: Iterable[str]) -> Grants:
    """Merge the admin-editable table and OIDC_GROUP_ROLES for these groups (two queries at most)."""
    groups = set(groups)
    grants = Grants()
    if not groups:
        return grants
    for mapping in GroupRoleMapping.objects.filter(group__in=groups):
        grants.superuser = grants.superuser or mapping.is_superuser
        if mapping.tenant_id is not None:
            grants.add(mapping.tenant_id, mapping.role)
    configured = [mapping for mapping in configured_mappings() if mapping.group in groups]
    names = {mapping.tenant_name for mapping in configured if mapping.tenant_name}
    tenant_ids = dict(Tenant.objects.filter(name__in=names).values_list("name", "pk")) if names else {}
    for mapping in configured:
        if mapping.tenant_name is None:
            grants.superuser = True
        elif mapping.tenant_name in tenant_ids:
            grants.add(tenant_ids[mapping.tenant_name], mapping.role)
        else:
            logger.warning(
                "sso: OIDC_GROUP_ROLES maps %r to tenant %r, which does not exist", mapping.group, mapping.tenant_name
            )
    return grants
