import csv
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from core.testing import client_for, database_url_for
from tenancy.models import Membership
from tenancy.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trail(admin_client, member_client, tenant, other_tenant, other_member_user):
    """Two projects written in the tenant (by its admin and a member), one in the other tenant."""
    admin_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "by-admin"}, format="json")
    member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "by-member"}, format="json")
    client_for(other_member_user).post(
        "/api/v1/projects", {"tenant_id": str(other_tenant.pk), "name": "elsewhere"}, format="json"
    )


def test_tenant_admin_reads_only_their_tenants_events(trail, admin_client, tenant):
    response = admin_client.get("/api/v1/audit")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["object_repr"] for row in rows} == {"Tenant A/by-admin", "Tenant A/by-member"}
    assert {row["tenant_id"] for row in rows} == {str(tenant.pk)}


def test_members_and_viewers_cannot_read_the_trail(trail, member_client, viewer_client, api_client):
    for client in (member_client, viewer_client):
        response = client.get("/api/v1/audit")
        assert response.status_code == 403
        assert response.json()["detail"] == "Only tenant admins and superusers read the audit trail."
    assert api_client.get("/api/v1/audit").status_code == 401


def test_superuser_reads_every_tenant(trail, superuser):
    rows = client_for(superuser).get("/api/v1/audit").json()["results"]
    assert {row["object_repr"] for row in rows} >= {"Tenant A/by-admin", "Tenant A/by-member", "Tenant B/elsewhere"}


def test_filters_actor_object_and_time(trail, admin_client, member_user):
    rows = admin_client.get("/api/v1/audit", {"actor": "bob-member"}).json()["results"]
    assert [row["object_repr"] for row in rows] == ["Tenant A/by-member"]
    assert admin_client.get("/api/v1/audit", {"actor": member_user.pk}).json()["count"] == 1
    project_id = rows[0]["object_id"]
    by_object = admin_client.get("/api/v1/audit", {"object_type": "tenancy.project", "object_id": project_id})
    assert [row["object_id"] for row in by_object.json()["results"]] == [project_id]
    now = timezone.now()
    assert admin_client.get("/api/v1/audit", {"from": (now + timedelta(minutes=1)).isoformat()}).json()["count"] == 0
    assert admin_client.get("/api/v1/audit", {"to": (now + timedelta(minutes=1)).isoformat()}).json()["count"] == 2
    bad = admin_client.get("/api/v1/audit", {"from": "yesterday"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["from"]


def test_another_tenants_event_is_404(trail, admin_client):
    theirs = AuditEvent.objects.get(object_repr="Tenant B/elsewhere")
    assert admin_client.get(f"/api/v1/audit/{theirs.pk}").status_code == 404


def test_csv_export_has_the_filtered_events(trail, admin_client):
    response = admin_client.get("/api/v1/audit/export", {"actor": "alice-admin"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["actor"], row["action"], row["object_repr"]) for row in rows] == [
        ("alice-admin", "create", "Tenant A/by-admin")
    ]


def test_the_trail_cannot_be_written_through_the_api(trail, superuser):
    event = AuditEvent.objects.first()
    client = client_for(superuser)
    assert client.delete(f"/api/v1/audit/{event.pk}").status_code == 405
    assert client.patch(f"/api/v1/audit/{event.pk}", {"action": "x"}).status_code == 405


def test_list_is_bounded_in_queries(trail, admin_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        assert admin_client.get("/api/v1/audit").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_management_command_is_recorded_with_the_os_user(tenant):
    user = UserFactory(username="ops-person")
    Membership.objects.create(user=user, tenant=tenant, role="member")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for(connection.settings_dict),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "ops-person", "--name", "from-shell"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    event = AuditEvent.objects.get(object_type="security.apitoken")
    assert event.source == "command" and event.request == "create_api_token"
    assert event.actor_username.startswith("os:")
    assert event.changes["name"] == {"before": None, "after": "from-shell"}


def test_console_audit_page_lists_the_tenants_events_for_its_admin(trail, client, admin_user, member_user):
    client.force_login(admin_user)
    response = client.get("/audit", {"actor": "bob-member"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Tenant A/by-member" in body and "Tenant A/by-admin" not in body and "Tenant B" not in body
    assert 'href="/api/v1/audit/export?actor=bob-member"' in body
    client.force_login(member_user)
    assert client.get("/audit").status_code == 403
    assert 'href="/audit"' not in client.get("/deployments").content.decode()
