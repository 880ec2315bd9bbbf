from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from audit.models import AuditEvent, AuditImmutable
from audit.services import MASK, audit_purge, changes_between
from deployments import reconciler
from deployments.tests.factories import SIMPLE_RAG_PARAMS
from jobs.tests.factories import submit_job
from tenancy.tests.factories import token_for

pytestmark = pytest.mark.django_db


def test_an_api_write_records_who_when_where_what_and_the_change(api_client, member_user, tenant):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(member_user, name='laptop')}")
    created = api_client.post(
        "/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "p1"}, format="json", REMOTE_ADDR="10.9.8.7"
    )
    assert created.status_code == 201
    api_client.patch(f"/api/v1/projects/{created.json()['id']}", {"description": "now described"}, format="json")
    update, create = AuditEvent.objects.filter(object_type="tenancy.project")[:2]
    assert create.action == "create" and update.action == "update"
    assert (create.actor_id, create.actor_username, create.actor_kind) == (member_user.pk, "bob-member", "user")
    assert (create.token_name, create.source, create.ip) == ("laptop", "api", "10.9.8.7")
    assert create.request == "POST /api/v1/projects"
    assert (create.object_id, create.tenant_id) == (created.json()["id"], tenant.pk)
    assert update.changes == {"description": {"before": "", "after": "now described"}}


def test_a_failed_write_records_nothing(member_client, tenant):
    member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "dup"}, format="json")
    count = AuditEvent.objects.count()
    response = member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "dup"}, format="json")
    assert response.status_code == 400
    assert AuditEvent.objects.count() == count


def test_secret_parameters_are_masked_in_the_change(templates, member_client, project, cluster):
    body = {
        "template_id": "simple-agent-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": {**SIMPLE_RAG_PARAMS, "search_api_key": "sk-first-secret"},
    }
    deployment_id = member_client.post("/api/v1/deployments", body, format="json").json()["id"]
    reconciler.deployment_reconcile(deployment_id=deployment_id)
    change = {"parameters": {"search_api_key": "sk-second-secret", "model_id": "mistralai/Mistral-7B-Instruct-v0.3"}}
    assert member_client.patch(f"/api/v1/deployments/{deployment_id}", change, format="json").status_code == 202
    events = AuditEvent.objects.filter(object_id=deployment_id)
    assert [event.action for event in events] == ["update", "create"]
    text = str([event.changes for event in events])
    assert "sk-first-secret" not in text and "sk-second-secret" not in text
    parameters = events[0].changes["parameters"]
    assert parameters["after"]["search_api_key"] == MASK
    assert parameters["after"]["model_id"] == "mistralai/Mistral-7B-Instruct-v0.3"


def test_a_cluster_change_records_before_and_after(admin_client, tenant, cluster):
    response = admin_client.patch(f"/api/v1/clusters/{cluster.pk}", {"status": "OFFLINE"}, format="json")
    assert response.status_code == 200, response.json()
    event = AuditEvent.objects.get(object_type="jobs.cluster", action="update")
    assert event.changes == {"status": {"before": "ACTIVE", "after": "OFFLINE"}}
    assert event.tenant_id == tenant.pk and event.actor_username == "alice-admin"


def test_a_write_no_service_records_is_still_recorded_from_the_request(member_client, tenant, project, cluster):
    # Job changes are written by services that do not record yet: the request is recorded instead.
    job = submit_job(cluster, project, "recorded-job")
    response = member_client.patch(f"/api/v1/clusters/{cluster.pk}/jobs/{job.pk}", {"priority": 70}, format="json")
    assert response.status_code == 200, response.json()
    event = AuditEvent.objects.get(object_type="jobs.job")
    assert event.object_id == str(job.pk) and event.tenant_id == tenant.pk
    assert event.action.startswith("patch:") and event.actor_username == "bob-member"
    assert event.request == f"PATCH /api/v1/clusters/{cluster.pk}/jobs/{job.pk}"


def test_changes_mask_secret_field_names_anywhere():
    changes = changes_between(
        {"env": {"API_KEY": "a", "HOST": "x"}, "password": "old"},
        {"env": {"API_KEY": "b", "HOST": "y"}, "password": "new"},
    )
    assert changes == {
        "env": {"before": {"API_KEY": MASK, "HOST": "x"}, "after": {"API_KEY": MASK, "HOST": "y"}},
        "password": {"before": MASK, "after": MASK},
    }


def test_events_cannot_be_changed_or_deleted(member_client, tenant):
    member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "p"}, format="json")
    event = AuditEvent.objects.get(object_type="tenancy.project")
    event.action = "forged"
    with pytest.raises(AuditImmutable):
        event.save()
    with pytest.raises(AuditImmutable):
        event.delete()
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the delete guard is a PostgreSQL trigger")
def test_the_database_refuses_raw_updates_and_deletes(member_client, tenant):
    member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "p"}, format="json")
    for statement in ("UPDATE audit_auditevent SET action = 'forged'", "DELETE FROM audit_auditevent"):
        with pytest.raises(ProgrammingError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.filter(action="create").exists()


def test_purge_removes_only_events_past_retention(member_client, tenant, settings):
    with time_machine.travel(timezone.now() - timedelta(days=40)):
        member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "old"}, format="json")
    member_client.post("/api/v1/projects", {"tenant_id": str(tenant.pk), "name": "new"}, format="json")
    settings.AUDIT_RETENTION_DAYS = 30
    assert audit_purge() == 1
    assert [event.object_repr for event in AuditEvent.objects.all()] == ["Tenant A/new"]


def test_a_post_that_writes_nothing_is_not_recorded(templates, member_client, project, cluster):
    body = {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": SIMPLE_RAG_PARAMS,
    }
    before = AuditEvent.objects.count()  # seeding the system templates recorded their revisions
    assert member_client.post("/api/v1/deployments/preview", body, format="json").status_code == 200
    assert AuditEvent.objects.count() == before


def test_an_admin_form_write_is_recorded_with_the_admin_as_source(client, superuser, project):
    client.force_login(superuser)
    url = f"/admin/tenancy/project/{project.pk}/change/"
    form = {"tenant": str(project.tenant_id), "name": "renamed-in-admin", "description": ""}
    response = client.post(url, form, REMOTE_ADDR="10.2.3.4")
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(object_type="tenancy.project")
    assert (event.source, event.actor_username, event.ip) == ("admin", "root", "10.2.3.4")
    assert event.object_id == str(project.pk) and event.tenant_id == project.tenant_id
