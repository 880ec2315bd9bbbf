"""Reads for tokens and service accounts, scoped to what the caller may see."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from security.models import ApiToken, ServiceAccount
from tenancy.models import Membership
from tenancy.selectors import scope_to_user


def token_list(*, user) -> QuerySet[ApiToken]:
    """The caller's own tokens, live and revoked."""
    return ApiToken.objects.filter(user=user)


def service_account_list(*, user) -> QuerySet[ServiceAccount]:
    """Service accounts of the caller's tenants, each annotated with its `role` (one query for a page)."""
    role = Membership.objects.filter(user=OuterRef("user"), tenant=OuterRef("tenant")).values("role")[:1]
    queryset = ServiceAccount.objects.select_related("tenant", "user").annotate(role=Subquery(role))
    return scope_to_user(queryset, user)


def service_account_tokens(*, account: ServiceAccount) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=account.user)
