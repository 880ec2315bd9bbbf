import pytest
from django.contrib.messages import get_messages
from django.test import Client

from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, ProjectFactory, TenantFactory

pytestmark = pytest.mark.django_db

LAST_ADMIN = "A tenant keeps at least one admin."


@pytest.fixture
def staff(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def results(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_tenant_list_searches_by_name_and_id(staff, tenant):
    acme = TenantFactory(name="Acme Robotics")
    assert results(staff.get("/admin/tenancy/tenant/", {"q": "robotics"})) == [acme]
    assert results(staff.get("/admin/tenancy/tenant/", {"q": str(tenant.pk)})) == [tenant]


def test_project_list_searches_and_filters_by_tenant(staff, project, other_project):
    ProjectFactory(tenant=other_project.tenant, name="project-c")
    found = results(staff.get("/admin/tenancy/project/", {"q": "project-b"}))
    assert found == [other_project]
    filtered = results(staff.get("/admin/tenancy/project/", {"tenant__id__exact": str(project.tenant_id)}))
    assert filtered == [project]


def test_membership_list_searches_and_filters(staff, tenant, other_tenant, admin_user, member_user, viewer_user):
    MembershipFactory(user=member_user, tenant=other_tenant, role=Membership.Role.VIEWER)
    by_name = results(staff.get("/admin/tenancy/membership/", {"q": "bob"}))
    assert {(m.user.username, m.tenant.name) for m in by_name} == {
        ("bob-member", "Tenant A"),
        ("bob-member", "Tenant B"),
    }
    viewers = results(staff.get("/admin/tenancy/membership/", {"role__exact": "viewer"}))
    assert {(m.user.username, m.tenant.name) for m in viewers} == {
        ("victor-viewer", "Tenant A"),
        ("bob-member", "Tenant B"),
    }
    in_b = results(staff.get("/admin/tenancy/membership/", {"tenant__id__exact": str(other_tenant.pk)}))
    assert [m.user.username for m in in_b] == ["bob-member"]


def test_admin_refuses_to_demote_the_last_admin(staff, tenant, admin_user):
    membership = Membership.objects.get(tenant=tenant, user=admin_user)
    response = staff.post(f"/admin/tenancy/membership/{membership.pk}/change/", {"role": "member"})
    assert response.status_code == 200  # the form again, with the error on the role
    assert response.context["adminform"].form.errors == {"role": [LAST_ADMIN]}
    assert Membership.objects.get(pk=membership.pk).role == "admin"


def test_admin_demotes_an_admin_when_another_remains(staff, tenant, admin_user, member_user):
    Membership.objects.filter(tenant=tenant, user=member_user).update(role="admin")
    membership = Membership.objects.get(tenant=tenant, user=admin_user)
    response = staff.post(f"/admin/tenancy/membership/{membership.pk}/change/", {"role": "viewer"})
    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "viewer"


def test_admin_refuses_to_delete_the_last_admin(staff, tenant, admin_user):
    membership = Membership.objects.get(tenant=tenant, user=admin_user)
    url = f"/admin/tenancy/membership/{membership.pk}/delete/"
    response = staff.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/tenancy/membership/{membership.pk}/change/"
    assert messages_of(response) == [LAST_ADMIN]
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_bulk_delete_refuses_to_remove_the_last_admin(staff, tenant, admin_user, member_user):
    selected = list(Membership.objects.filter(tenant=tenant).values_list("pk", flat=True))
    response = staff.post(
        "/admin/tenancy/membership/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
    )
    assert response.status_code == 302
    assert messages_of(response) == [LAST_ADMIN]
    assert Membership.objects.filter(tenant=tenant).count() == 2


def test_bulk_delete_removes_members_when_an_admin_remains(staff, tenant, admin_user, member_user, viewer_user):
    selected = list(Membership.objects.filter(tenant=tenant).exclude(user=admin_user).values_list("pk", flat=True))
    response = staff.post(
        "/admin/tenancy/membership/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
    )
    assert response.status_code == 302
    assert list(Membership.objects.filter(tenant=tenant).values_list("user__username", flat=True)) == ["alice-admin"]


def tenant_page_data(staff, tenant, *, roles: dict | None = None, delete: tuple = ()) -> dict:
    """The tenant change form as the browser would post it, with some member rows changed or marked for deletion."""
    roles = roles or {}
    page = staff.get(f"/admin/tenancy/tenant/{tenant.pk}/change/")
    formset = page.context["inline_admin_formsets"][0].formset
    prefix = formset.prefix
    data = {
        "name": tenant.name,
        f"{prefix}-TOTAL_FORMS": len(formset.forms),
        f"{prefix}-INITIAL_FORMS": len(formset.forms),
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for index, form in enumerate(formset.forms):
        membership = form.instance
        username = membership.user.username
        data[f"{prefix}-{index}-id"] = membership.pk
        data[f"{prefix}-{index}-tenant"] = tenant.pk
        data[f"{prefix}-{index}-role"] = roles.get(username, membership.role)
        if username in delete:
            data[f"{prefix}-{index}-DELETE"] = "on"
    return data


def test_tenant_page_refuses_to_demote_or_remove_the_last_admin(staff, tenant, admin_user, member_user):
    for change in ({"roles": {"alice-admin": "member"}}, {"delete": ("alice-admin",)}):
        response = staff.post(f"/admin/tenancy/tenant/{tenant.pk}/change/", tenant_page_data(staff, tenant, **change))
        assert response.status_code == 200
        assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [LAST_ADMIN]
        assert Membership.objects.get(tenant=tenant, user=admin_user).role == "admin"


def test_tenant_page_swaps_the_admin_in_one_submission(staff, tenant, admin_user, member_user):
    data = tenant_page_data(staff, tenant, roles={"alice-admin": "viewer", "bob-member": "admin"})
    response = staff.post(f"/admin/tenancy/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 302
    assert dict(Membership.objects.filter(tenant=tenant).values_list("user__username", "role")) == {
        "alice-admin": "viewer",
        "bob-member": "admin",
    }


def test_tenant_page_removes_a_member(staff, tenant, admin_user, member_user):
    response = staff.post(
        f"/admin/tenancy/tenant/{tenant.pk}/change/", tenant_page_data(staff, tenant, delete=("bob-member",))
    )
    assert response.status_code == 302
    assert list(Membership.objects.filter(tenant=tenant).values_list("user__username", flat=True)) == ["alice-admin"]
