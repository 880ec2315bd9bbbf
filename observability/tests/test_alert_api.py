"""Alert rules, channels and alerts over the API: CRUD, field-level 400s, tenant scoping, roles, bounded lists."""

from __future__ import annotations

import pytest
from django.utils import timezone

from observability.alerts import alert_fire, alerts_evaluate
from observability.models import Alert, AlertRule, NotificationChannel

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(deployment):
    alerts_evaluate(now=timezone.now())
    rule = AlertRule.objects.get(deployment=deployment, name="slo-fast-burn")
    return alert_fire(
        rule=rule, deployment=deployment, value=20.0, threshold=14.4, message="burning", now=timezone.now()
    )


def test_rules_crud_with_field_errors(member_client, viewer_client, deployment):
    body = {"deployment_id": str(deployment.pk), "name": "cost", "kind": "cost_over_budget",
            "params": {"budget": "50", "window": "6h"}}  # fmt: skip
    created = member_client.post("/api/v1/alert-rules", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["source"] == "api"
    again = member_client.post("/api/v1/alert-rules", body, format="json")
    assert again.status_code == 400 and "name" in again.json()["errors"]
    bad = member_client.post(
        "/api/v1/alert-rules",
        {**body, "name": "b", "kind": "burn_rate", "params": {"target": "tpot", "short_window": "2m", "factor": -1}},
        format="json",
    )
    assert bad.status_code == 400
    assert {"params.target", "params.short_window", "params.factor"} <= set(bad.json()["errors"])
    assert viewer_client.post("/api/v1/alert-rules", {**body, "name": "v"}, format="json").status_code == 403
    rule_id = created.json()["id"]
    patched = member_client.patch(f"/api/v1/alert-rules/{rule_id}", {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    listed = member_client.get("/api/v1/alert-rules", {"deployment_id": str(deployment.pk), "kind": "cost_over_budget"})
    assert [r["name"] for r in listed.json()["results"]] == ["cost"]
    assert member_client.delete(f"/api/v1/alert-rules/{rule_id}").status_code == 204


def test_channels_keep_the_url_write_only(member_client, tenant):
    created = member_client.post(
        "/api/v1/notification-channels",
        {"tenant_id": str(tenant.pk), "name": "hook", "kind": "slack", "url": "https://hooks.example.com/T0/B0/x"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert "url" not in created.json() and created.json()["has_target"] is True
    missing = member_client.post(
        "/api/v1/notification-channels", {"tenant_id": str(tenant.pk), "name": "m", "kind": "email"}, format="json"
    )
    assert missing.status_code == 400 and "emails" in missing.json()["errors"]
    assert NotificationChannel.objects.get(pk=created.json()["id"]).target["url"].endswith("/x")


def test_alerts_list_silence_and_acknowledge(member_client, alert, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        listed = member_client.get("/api/v1/alerts", {"state": "firing"})
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["rule"] == "slo-fast-burn" and row["severity"] == "page" and row["value"] == 20.0
    bad = member_client.post(f"/api/v1/alerts/{alert.pk}/silence", {"minutes": 0}, format="json")
    assert bad.status_code == 400 and "minutes" in bad.json()["errors"]
    silenced = member_client.post(f"/api/v1/alerts/{alert.pk}/silence", {"minutes": 60}, format="json")
    assert silenced.status_code == 200 and silenced.json()["silenced_until"]
    acked = member_client.post(f"/api/v1/alerts/{alert.pk}/acknowledge")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "bob-member"
    assert Alert.objects.get(pk=alert.pk).acknowledged_at is not None


def test_another_tenant_sees_none_of_it(other_client, alert, deployment, tenant):
    channel = NotificationChannel.objects.create(tenant=tenant, name="c", kind="email", target={"emails": ["a@b.c"]})
    assert other_client.get("/api/v1/alerts").json()["count"] == 0
    assert other_client.get(f"/api/v1/alerts/{alert.pk}").status_code == 404
    assert other_client.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 404
    assert other_client.get(f"/api/v1/alert-rules/{alert.rule_id}").status_code == 404
    assert other_client.get(f"/api/v1/notification-channels/{channel.pk}").status_code == 404
    foreign = other_client.post(
        "/api/v1/alert-rules",
        {"deployment_id": str(deployment.pk), "name": "x", "kind": "degraded"},
        format="json",
    )
    assert foreign.status_code == 400 and "deployment_id" in foreign.json()["errors"]
