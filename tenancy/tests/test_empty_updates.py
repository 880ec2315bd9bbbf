import pytest

from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("format_", ["multipart", "json"])
def test_an_empty_patch_of_a_tenant_changes_nothing_and_answers_it(superuser, superuser_client, tenant, format_):
    MembershipFactory(user=superuser, tenant=tenant, role=Membership.Role.ADMIN)
    response = superuser_client.patch(f"/api/v1/tenants/{tenant.pk}/", {}, format=format_)
    assert response.status_code == 200
    assert response.json()["name"] == "Tenant A"


def test_an_empty_patch_still_needs_the_admin_role(member_client, tenant):
    response = member_client.patch(f"/api/v1/tenants/{tenant.pk}/", {}, format="multipart")
    assert response.status_code == 403


def test_an_empty_patch_of_a_project_answers_it(member_client, project):
    response = member_client.patch(f"/api/v1/projects/{project.pk}/", {}, format="multipart")
    assert response.status_code == 200 and response.json()["name"] == "project-a"
