import pytest
from django.test import Client
from django.urls import reverse

from tenancy.models import Membership, Project, Tenant
from tenancy.tests.factories import MembershipFactory, ProjectFactory, UserFactory, token_for

pytestmark = pytest.mark.django_db


def test_anonymous_request_is_401(api_client):
    response = api_client.get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided.", "errors": {}}


def test_token_authentication_works(api_client, member_user, project):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(member_user)}")
    response = api_client.get("/api/v1/projects")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [str(project.pk)]


def test_member_of_a_gets_404_for_project_of_b(member_client, other_project):
    response = member_client.get(f"/api/v1/projects/{other_project.pk}")
    assert response.status_code == 404


def test_list_shows_only_own_tenants_projects(member_client, project, other_project):
    body = member_client.get("/api/v1/projects").json()
    assert body["count"] == 1
    assert body["results"][0]["tenant_id"] == str(project.tenant_id)


def test_viewer_post_is_403(viewer_client, tenant):
    response = viewer_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "x"})
    assert response.status_code == 403
    assert not Project.objects.filter(name="x").exists()


def test_viewer_can_read(viewer_client, project):
    assert viewer_client.get(f"/api/v1/projects/{project.pk}").status_code == 200


def test_viewer_with_write_role_elsewhere_still_cannot_write_here(viewer_user, viewer_client, tenant, other_tenant):
    MembershipFactory(user=viewer_user, tenant=other_tenant, role=Membership.Role.MEMBER)
    response = viewer_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "x"})
    assert response.status_code == 403


def test_member_creates_project(member_client, tenant):
    response = member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "rag"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["tenant_id"] == str(tenant.pk)
    assert body["name"] == "rag"
    assert Project.objects.get(pk=body["id"]).tenant == tenant


def test_create_project_in_other_tenant_is_field_error(member_client, other_tenant):
    response = member_client.post("/api/v1/projects", {"tenant_id": str(other_tenant.pk), "name": "x"})
    assert response.status_code == 400
    assert "tenant_id" in response.json()["errors"]


def test_duplicate_project_name_is_field_error(member_client, project):
    response = member_client.post("/api/v1/projects", {"tenant_id": str(project.tenant_id), "name": project.name})
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["A project with this name already exists in the tenant."]}


def test_missing_fields_are_listed_per_field(member_client):
    response = member_client.post("/api/v1/projects", {})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert set(body["errors"]) == {"tenant_id", "name"}


def test_writing_read_only_field_is_400(member_client, project):
    response = member_client.patch(f"/api/v1/projects/{project.pk}", {"id": "abc"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"id": ["This field is read-only."]}


def test_unknown_field_is_400(member_client, tenant):
    response = member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "x", "colour": "red"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"colour": ["Unknown field."]}


def test_paths_work_with_and_without_trailing_slash(member_client, project):
    assert member_client.get("/api/v1/projects").status_code == 200
    assert member_client.get("/api/v1/projects/").status_code == 200
    assert member_client.get(f"/api/v1/projects/{project.pk}/").status_code == 200


def test_pagination_shape_and_limits(member_client, tenant):
    ProjectFactory.create_batch(5, tenant=tenant)
    body = member_client.get("/api/v1/projects?limit=2&offset=1").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert "offset=3" in body["next"]


def test_page_size_capped_at_1000(member_client, tenant):
    Project.objects.bulk_create(Project(tenant=tenant, name=f"p-{i:04d}") for i in range(1001))
    capped = member_client.get("/api/v1/projects?limit=5000").json()
    assert capped["count"] == 1001
    assert len(capped["results"]) == 1000
    assert "limit=1000" in capped["next"]
    default = member_client.get("/api/v1/projects").json()
    assert len(default["results"]) == 50
    assert "limit=50" in default["next"]


def test_project_filters(member_client, tenant, other_tenant, member_user):
    MembershipFactory(user=member_user, tenant=other_tenant)
    ProjectFactory(tenant=tenant, name="alpha")
    ProjectFactory(tenant=other_tenant, name="beta")
    body = member_client.get(f"/api/v1/projects?tenant_id={other_tenant.pk}").json()
    assert [p["name"] for p in body["results"]] == ["beta"]
    body = member_client.get("/api/v1/projects?q=alp").json()
    assert [p["name"] for p in body["results"]] == ["alpha"]


def test_project_list_query_count_is_bounded(member_client, tenant, django_assert_max_num_queries):
    ProjectFactory.create_batch(30, tenant=tenant)
    with django_assert_max_num_queries(3):
        response = member_client.get("/api/v1/projects")
    assert response.json()["count"] == 30


def test_superuser_sees_every_project(superuser_client, project, other_project):
    assert superuser_client.get("/api/v1/projects").json()["count"] == 2


# --- tenants ---------------------------------------------------------------------------------------------------


def test_superuser_creates_tenant_and_becomes_admin(superuser_client, superuser):
    response = superuser_client.post("/api/v1/tenants", {"name": "Acme"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Acme"
    assert body["role"] == "admin"
    assert Membership.objects.get(tenant_id=body["id"], user=superuser).role == "admin"


def test_non_superuser_cannot_create_tenant(admin_client):
    response = admin_client.post("/api/v1/tenants", {"name": "Acme"})
    assert response.status_code == 403
    assert not Tenant.objects.filter(name="Acme").exists()


def test_tenant_list_is_scoped_and_carries_role(member_client, tenant, other_tenant):
    body = member_client.get("/api/v1/tenants").json()
    assert [(t["name"], t["role"]) for t in body["results"]] == [(tenant.name, "member")]
    assert member_client.get(f"/api/v1/tenants/{other_tenant.pk}").status_code == 404


def test_duplicate_tenant_name_is_field_error(superuser_client, tenant):
    response = superuser_client.post("/api/v1/tenants", {"name": tenant.name.upper()})
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


# --- members ---------------------------------------------------------------------------------------------------


def test_admin_lists_members(admin_client, tenant, member_user, viewer_user):
    body = admin_client.get(f"/api/v1/tenants/{tenant.pk}/members").json()
    assert {(m["username"], m["role"]) for m in body["results"]} == {
        ("alice-admin", "admin"),
        ("bob-member", "member"),
        ("victor-viewer", "viewer"),
    }


def test_member_cannot_manage_members(member_client, tenant):
    assert member_client.get(f"/api/v1/tenants/{tenant.pk}/members").status_code == 403


def test_admin_of_other_tenant_gets_404(other_client, tenant):
    assert other_client.get(f"/api/v1/tenants/{tenant.pk}/members").status_code == 404


def test_admin_adds_member(admin_client, tenant):
    UserFactory(username="newbie")
    response = admin_client.post(f"/api/v1/tenants/{tenant.pk}/members", {"username": "newbie", "role": "viewer"})
    assert response.status_code == 201, response.json()
    assert Membership.objects.get(tenant=tenant, user__username="newbie").role == "viewer"


def test_adding_unknown_user_is_field_error(admin_client, tenant):
    response = admin_client.post(f"/api/v1/tenants/{tenant.pk}/members", {"username": "ghost", "role": "viewer"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["No user named 'ghost'."]}


def test_adding_bad_role_is_field_error(admin_client, tenant):
    UserFactory(username="newbie")
    response = admin_client.post(f"/api/v1/tenants/{tenant.pk}/members", {"username": "newbie", "role": "boss"})
    assert response.status_code == 400
    assert "role" in response.json()["errors"]


def test_admin_changes_role_and_removes_member(admin_client, tenant, member_user):
    url = f"/api/v1/tenants/{tenant.pk}/members/{member_user.username}"
    response = admin_client.patch(url, {"role": "viewer"})
    assert response.status_code == 200
    assert Membership.objects.get(tenant=tenant, user=member_user).role == "viewer"
    assert admin_client.delete(url).status_code == 204
    assert not Membership.objects.filter(tenant=tenant, user=member_user).exists()


def test_last_admin_cannot_be_demoted_or_removed(admin_client, tenant, admin_user):
    url = f"/api/v1/tenants/{tenant.pk}/members/{admin_user.username}"
    response = admin_client.patch(url, {"role": "member"})
    assert response.status_code == 409
    assert response.json()["detail"] == "A tenant keeps at least one admin."
    assert admin_client.delete(url).status_code == 409
    assert Membership.objects.get(tenant=tenant, user=admin_user).role == "admin"


def test_an_admin_can_step_down_when_another_admin_exists(admin_client, tenant, admin_user, member_user):
    Membership.objects.filter(tenant=tenant, user=member_user).update(role="admin")
    response = admin_client.patch(f"/api/v1/tenants/{tenant.pk}/members/{admin_user.pk}", {"role": "member"})
    assert response.status_code == 200
    assert Membership.objects.get(tenant=tenant, user=admin_user).role == "member"


def test_unknown_member_is_404(admin_client, tenant):
    assert admin_client.delete(f"/api/v1/tenants/{tenant.pk}/members/nobody").status_code == 404


def test_member_with_a_numeric_username_is_addressed_by_it(admin_client, tenant):
    numeric = UserFactory(username="12345")
    MembershipFactory(user=numeric, tenant=tenant, role=Membership.Role.MEMBER)
    url = f"/api/v1/tenants/{tenant.pk}/members/12345"
    response = admin_client.patch(url, {"role": "viewer"})
    assert response.status_code == 200, response.json()
    assert response.json()["username"] == "12345"
    assert Membership.objects.get(tenant=tenant, user=numeric).role == "viewer"
    assert admin_client.delete(url).status_code == 204
    assert not Membership.objects.filter(tenant=tenant, user=numeric).exists()


def test_a_username_wins_over_a_user_id_of_the_same_digits(admin_client, tenant, member_user):
    namesake = UserFactory(username=str(member_user.pk))
    MembershipFactory(user=namesake, tenant=tenant, role=Membership.Role.VIEWER)
    body = admin_client.get(f"/api/v1/tenants/{tenant.pk}/members/{member_user.pk}").json()
    assert (body["user_id"], body["username"]) == (namesake.pk, str(member_user.pk))


# --- session authentication (the browsable API and the console's pages) -----------------------------------------


@pytest.fixture
def session_client(member_user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_user)
    return client


def test_a_logged_in_session_reads_the_api(session_client, project, other_project):
    response = session_client.get("/api/v1/projects", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [str(project.pk)]


def test_a_session_write_without_csrf_token_is_refused(session_client, tenant):
    response = session_client.post(
        "/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "forged"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")
    assert not Project.objects.filter(name="forged").exists()


def test_a_session_write_with_csrf_token_is_accepted(session_client, tenant):
    session_client.get("/accounts/login/")  # sets the csrftoken cookie, as the browsable API's form does
    token = session_client.cookies["csrftoken"].value
    response = session_client.post(
        "/api/v1/projects",
        {"tenant_id": str(tenant.pk), "name": "legit"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201, response.json()
    assert Project.objects.get(name="legit").tenant == tenant


def test_reverse_names_exist():
    assert reverse("project-list") == "/api/v1/projects"
