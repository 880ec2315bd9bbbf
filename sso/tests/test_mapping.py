"""Group → role mappings: parsing the configuration, merging with the table, and what hand-made rows keep."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.test import Client

from core.testing import client_for
from sso.conf import ConfiguredMapping, configured_mappings
from sso.models import GroupRoleMapping
from sso.selectors import group_grants
from sso.services import memberships_apply_grants
from sso.testing import node_unavailable
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, TenantFactory, UserFactory


def test_configured_mappings_parse_tenant_roles_and_superuser():
    assert configured_mappings("cn=ops,ou=g=Acme Corp:admin; platform = superuser ;") == [
        ConfiguredMapping(group="cn=ops,ou=g", tenant_name="Acme Corp", role="admin"),
        ConfiguredMapping(group="platform", tenant_name=None, role=""),
    ]


@pytest.mark.parametrize("text", ["nogroup", "g=Acme:owner", "g=:admin", "=superuser"])
def test_configured_mappings_refuse_what_they_cannot_read(text):
    with pytest.raises(ImproperlyConfigured):
        configured_mappings(text)


@pytest.mark.django_db
def test_a_mapping_grants_a_tenant_role_or_superuser_never_nothing():
    with pytest.raises(IntegrityError):
        GroupRoleMapping.objects.create(group="g")


@pytest.mark.django_db
def test_grants_merge_table_and_configuration_strongest_role_wins(settings, django_assert_max_num_queries, caplog):
    acme, beta = TenantFactory(name="Acme"), TenantFactory(name="Beta")
    GroupRoleMapping.objects.create(group="dev", tenant=acme, role="member")
    GroupRoleMapping.objects.create(group="leads", tenant=acme, role="admin")
    settings.OIDC_GROUP_ROLES = "dev=Beta:viewer; dev=Gone:admin; root=superuser"
    with django_assert_max_num_queries(2):
        grants = group_grants(groups=["dev", "leads", "unmapped"])
    assert grants.roles == {acme.pk: "admin", beta.pk: "viewer"}
    assert not grants.superuser
    assert "OIDC_GROUP_ROLES maps 'dev' to tenant 'Gone', which does not exist" in caplog.text
    assert group_grants(groups=["root"]).superuser


@pytest.mark.django_db
def test_applying_grants_never_touches_hand_made_memberships():
    acme = TenantFactory(name="Acme")
    user = UserFactory(username="u")
    MembershipFactory(user=user, tenant=acme, role="viewer")
    grants = group_grants(groups=[])
    grants.add(acme.pk, "admin")
    memberships_apply_grants(user=user, grants=grants)
    membership = Membership.objects.get(user=user)
    assert (membership.role, membership.source) == ("viewer", Membership.Source.MANUAL)


@pytest.mark.django_db
def test_group_made_membership_cannot_be_changed_or_removed_by_hand(admin_user, tenant):
    mapped = UserFactory(username="mapped")
    MembershipFactory(user=mapped, tenant=tenant, role="member", source=Membership.Source.GROUPS)
    client = client_for(admin_user)
    url = f"/api/v1/tenants/{tenant.pk}/members/mapped"
    assert client.get(url).json()["source"] == "groups"
    response = client.patch(url, {"role": "admin"})
    assert response.status_code == 409
    assert "identity provider's groups" in response.json()["detail"]
    assert client.delete(url).status_code == 409
    assert Membership.objects.get(user=mapped).role == "member"


@pytest.mark.django_db
def test_admin_shows_group_made_membership_read_only_and_lists_configured_mappings(superuser, tenant, settings):
    settings.OIDC_GROUP_ROLES = "platform=superuser"
    mapped = UserFactory(username="mapped")
    membership = MembershipFactory(user=mapped, tenant=tenant, role="member", source=Membership.Source.GROUPS)
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/tenancy/membership/{membership.pk}/change/")
    assert page.status_code == 200
    assert b'name="role"' not in page.content
    assert client.get(f"/admin/tenancy/membership/{membership.pk}/delete/").status_code == 403
    listing = client.get("/admin/sso/grouprolemapping/")
    assert listing.status_code == 200
    assert b"<td>platform</td><td>superuser</td>" in listing.content


def test_without_node_the_provider_tests_skip_with_the_reason(monkeypatch):
    monkeypatch.setattr("sso.testing.shutil.which", lambda name: None)
    assert node_unavailable() == (
        "Node.js (node and npm) is not installed: the single sign-on tests need it to run oidc-provider"
    )
