import pytest
from rest_framework.test import APIClient

from core.testing import client_for
from security.models import ServiceAccount
from tenancy.models import Membership

pytestmark = pytest.mark.django_db


def create_account(client, tenant, role="member", name="deployer"):
    return client.post(
        "/api/v1/service-accounts", {"tenant_id": str(tenant.pk), "name": name, "role": role}, format="json"
    )


def test_tenant_admin_creates_a_service_account_whose_token_acts_with_its_role(admin_client, tenant, project):
    response = create_account(admin_client, tenant, role="viewer")
    assert response.status_code == 201, response.json()
    account = response.json()
    assert account["role"] == "viewer" and account["tenant_id"] == str(tenant.pk)
    token = admin_client.post(f"/api/v1/service-accounts/{account['id']}/tokens", {"name": "gitlab"}, format="json")
    assert token.status_code == 201
    pipeline = APIClient(HTTP_AUTHORIZATION=f"Token {token.json()['key']}")
    assert [p["name"] for p in pipeline.get("/api/v1/projects").json()["results"]] == [project.name]
    refused = pipeline.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "x"}, format="json")
    assert refused.status_code == 403

    assert admin_client.patch(f"/api/v1/service-accounts/{account['id']}", {"role": "member"}).status_code == 200
    created = pipeline.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "from-ci"}, format="json")
    assert created.status_code == 201


def test_service_account_cannot_log_in_with_a_password(admin_client, tenant, client):
    account = ServiceAccount.objects.get(pk=create_account(admin_client, tenant).json()["id"])
    assert not account.user.has_usable_password()


def test_members_list_but_only_admins_manage_service_accounts(admin_client, member_client, viewer_client, tenant):
    account = create_account(admin_client, tenant).json()
    assert [row["name"] for row in member_client.get("/api/v1/service-accounts").json()["results"]] == ["deployer"]
    assert create_account(member_client, tenant, name="mine").status_code == 403
    assert create_account(viewer_client, tenant, name="mine").status_code == 403
    assert member_client.post(f"/api/v1/service-accounts/{account['id']}/tokens", {"name": "t"}).status_code == 403
    assert member_client.delete(f"/api/v1/service-accounts/{account['id']}").status_code == 403


def test_another_tenants_service_account_is_404(admin_client, other_tenant, other_member_user):
    Membership.objects.filter(user=other_member_user).update(role="admin")
    theirs = create_account(client_for(other_member_user), other_tenant).json()
    assert admin_client.get(f"/api/v1/service-accounts/{theirs['id']}").status_code == 404
    assert admin_client.post(f"/api/v1/service-accounts/{theirs['id']}/tokens", {"name": "t"}).status_code == 404
    assert create_account(admin_client, other_tenant).status_code == 400  # tenant_id outside the caller's tenants


def test_deactivating_a_service_account_revokes_its_tokens(admin_client, tenant):
    account = create_account(admin_client, tenant).json()
    key = admin_client.post(f"/api/v1/service-accounts/{account['id']}/tokens", {"name": "ci"}).json()["key"]
    pipeline = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert pipeline.get("/api/v1/projects").status_code == 200
    assert admin_client.delete(f"/api/v1/service-accounts/{account['id']}").status_code == 204
    assert pipeline.get("/api/v1/projects").status_code == 401
    assert admin_client.get(f"/api/v1/service-accounts/{account['id']}").json()["is_active"] is False


def test_revoke_one_service_account_token(admin_client, tenant):
    account = create_account(admin_client, tenant).json()
    created = admin_client.post(f"/api/v1/service-accounts/{account['id']}/tokens", {"name": "ci"}).json()
    url = f"/api/v1/service-accounts/{account['id']}/tokens/{created['id']}"
    assert admin_client.delete(url).status_code == 204
    assert APIClient(HTTP_AUTHORIZATION=f"Token {created['key']}").get("/api/v1/projects").status_code == 401
    listed = admin_client.get(f"/api/v1/service-accounts/{account['id']}/tokens").json()["results"]
    assert listed[0]["revoked_at"] is not None
