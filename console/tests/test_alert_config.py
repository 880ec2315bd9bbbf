"""Alert rules and notification channels edited in the console: create, edit, delete, field errors beside the fields,
tenant scope (another tenant's is a 404, a viewer's write a 403); the deployment page lists its own alerts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from observability.models import Alert, AlertRule, NotificationChannel
from observability.tests.conftest import running_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(admin_user, project, tenant, shipped_usecases):
    return running_deployment(user=admin_user, project=project, tenant=tenant)


def rule_data(**changes) -> dict:
    params = '{"target": "ttft", "long_window": "1h", "short_window": "5m", "factor": 14.4}'
    return {"name": "fast", "kind": "burn_rate", "severity": "page", "enabled": "on", "params": params, **changes}


def test_a_member_adds_edits_and_deletes_a_rule(member_web, deployment):
    url = f"/deployments/{deployment.pk}/alert-rules"
    bad = member_web.post(url, rule_data(params='{"factor": -1, "long_window": "2d"}'))
    html = bad.content.decode()
    assert bad.status_code == 400 and 'class="field has-error"' in html
    assert "params.factor: A positive number." in html and "params.long_window" in html
    assert member_web.post(url, rule_data(params="{nope")).status_code == 400
    assert not AlertRule.objects.filter(deployment=deployment, name="fast").exists()

    assert member_web.post(url, rule_data()).status_code == 302
    rule = AlertRule.objects.get(deployment=deployment, name="fast")
    assert rule.params["factor"] == 14.4 and rule.source == "api"
    assert member_web.post(url, rule_data()).status_code == 400  # the name is taken: a field error
    page = member_web.get(url).content.decode()
    assert 'data-rule="fast"' in page and 'data-testid="rule-form"' in page

    edit = f"{url}/{rule.pk}"
    assert 'value="fast"' in member_web.get(edit).content.decode()
    saved = member_web.post(edit, rule_data(severity="ticket", params='{"target": "e2e", "factor": 6}', enabled=""))
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert rule.severity == "ticket" and rule.params["target"] == "e2e" and not rule.enabled
    assert member_web.post(edit, rule_data(kind="cost_over_budget", params="{}")).status_code == 400

    assert member_web.post(f"{edit}/delete").status_code == 302
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_rules_are_read_only_for_a_viewer_and_invisible_to_another_tenant(viewer_web, other_web, deployment):
    rule = AlertRule.objects.create(deployment=deployment, name="mine", kind=AlertRule.Kind.DEGRADED)
    url = f"/deployments/{deployment.pk}/alert-rules"
    page = viewer_web.get(url)
    assert page.status_code == 200 and b'data-rule="mine"' in page.content and b"rule-form" not in page.content
    assert viewer_web.post(url, rule_data()).status_code == 403
    assert viewer_web.post(f"{url}/{rule.pk}", rule_data()).status_code == 403
    assert viewer_web.post(f"{url}/{rule.pk}/delete").status_code == 403
    for path in (url, f"{url}/{rule.pk}"):
        assert other_web.get(path).status_code == 404
    assert other_web.post(f"{url}/{rule.pk}/delete").status_code == 404
    assert AlertRule.objects.filter(pk=rule.pk).exists()


def test_a_member_adds_edits_and_deletes_a_channel(member_web, tenant, django_assert_max_num_queries):
    missing = member_web.post("/channels", {"tenant": tenant.pk, "name": "ops", "kind": "webhook", "enabled": "on"})
    assert missing.status_code == 400 and "Required for a webhook or Slack channel." in missing.content.decode()
    bad_email = member_web.post("/channels", {"tenant": tenant.pk, "name": "ops", "kind": "email", "emails": "x@"})
    assert bad_email.status_code == 400
    ok = member_web.post(
        "/channels",
        {"tenant": tenant.pk, "name": "ops", "kind": "slack", "url": "https://hooks.example.com/T0/B0/x", "enabled": 1},
    )
    assert ok.status_code == 302
    channel = NotificationChannel.objects.get(tenant=tenant, name="ops")
    assert channel.target["url"] == "https://hooks.example.com/T0/B0/x"
    with django_assert_max_num_queries(12):
        listing = member_web.get("/channels").content.decode()
    assert 'data-channel="ops"' in listing and "hooks.example.com" not in listing  # the URL carries a token

    edit = f"/channels/{channel.pk}"
    saved = member_web.post(edit, {"tenant": tenant.pk, "name": "ops-2", "kind": "slack", "enabled": ""})
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "ops-2" and not channel.enabled and channel.target["url"].endswith("/x")  # URL kept
    assert member_web.post(f"{edit}/delete").status_code == 302
    assert not NotificationChannel.objects.filter(pk=channel.pk).exists()


def test_channels_are_tenant_scoped(viewer_web, other_web, tenant):
    channel = NotificationChannel.objects.create(
        tenant=tenant, name="ops", kind=NotificationChannel.Kind.EMAIL, target={"emails": ["ops@example.com"]}
    )
    assert b'data-channel="ops"' not in other_web.get("/channels").content
    assert other_web.get(f"/channels/{channel.pk}").status_code == 404
    assert other_web.post(f"/channels/{channel.pk}/delete").status_code == 404
    assert b'data-channel="ops"' in viewer_web.get("/channels").content
    assert viewer_web.post("/channels", {"tenant": tenant.pk, "name": "v", "kind": "email"}).status_code == 403
    assert viewer_web.post(f"/channels/{channel.pk}/delete").status_code == 403
    assert NotificationChannel.objects.filter(pk=channel.pk).exists()


def test_the_deployment_page_lists_its_own_alerts(member_web, other_web, deployment, admin_user, project, tenant):
    rule = AlertRule.objects.create(deployment=deployment, name="slo-fast-burn", kind=AlertRule.Kind.BURN_RATE)
    now = timezone.now()
    firing = Alert.objects.create(rule=rule, deployment=deployment, value=20.0, threshold=14.4, fired_at=now)
    old = Alert.objects.create(
        rule=rule, deployment=deployment, state=Alert.State.RESOLVED, fired_at=now - timezone.timedelta(hours=2),
        resolved_at=now - timezone.timedelta(hours=1),
    )  # fmt: skip
    sibling = running_deployment(user=admin_user, project=project, tenant=tenant, name="sibling")
    elsewhere = Alert.objects.create(
        rule=AlertRule.objects.create(deployment=sibling, name="x", kind=AlertRule.Kind.DEGRADED),
        deployment=sibling,
        fired_at=now,
    )
    html = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    section = html[html.index('data-testid="deployment-alerts"') :]
    assert f'data-alert="{firing.pk}" data-state="firing"' in section
    assert f'data-alert="{old.pk}" data-state="resolved"' in section
    assert section.index(f'data-alert="{firing.pk}"') < section.index(f'data-alert="{old.pk}"')
    assert f'data-alert="{elsewhere.pk}"' not in html
    assert f"/deployments/{deployment.pk}/alert-rules" in html
