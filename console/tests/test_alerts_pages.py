"""The home page's SLO status and firing alerts, the alerts page (filter, acknowledge, silence), and the use case's
page listing the deployments serving it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from jobs.models import Job
from observability.alerts import rules_ensure
from observability.collect import floor_minute, metrics_collect
from observability.models import Alert, AlertRule
from observability.tests.conftest import running_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def firing(admin_user, project, tenant, shipped_usecases):
    """A running deployment with 15 minutes of metrics and its fast-burn alert firing."""
    deployment = running_deployment(user=admin_user, project=project, tenant=tenant)
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(minutes=30))
    assert metrics_collect(now=floor_minute(timezone.now())).rows
    deployment.refresh_from_db()
    rules_ensure(deployments=[deployment])
    rule = AlertRule.objects.get(deployment=deployment, name="slo-fast-burn")
    return Alert.objects.create(
        rule=rule, deployment=deployment, value=20.0, threshold=14.4, message="ttft burning", fired_at=timezone.now()
    )


def test_home_shows_each_running_deployments_slo_and_the_alerts_firing(member_web, firing):
    html = member_web.get("/").content.decode()
    assert 'data-testid="slo-status"' in html and f'data-deployment="{firing.deployment.name}"' in html
    section = html[html.index('data-testid="slo-status"') :]
    assert 'data-testid="slo-state">meets<' in section or 'data-testid="slo-state">misses<' in section
    alerts = html[html.index('data-testid="firing-alerts"') :]
    assert "slo-fast-burn" in alerts[: alerts.index("</section>")]


def test_home_hides_another_tenants_deployments_and_alerts(other_web, firing):
    html = other_web.get("/").content.decode()
    assert firing.deployment.name not in html and "slo-fast-burn" not in html


def test_alerts_page_filters_by_state_and_severity(member_web, firing, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        html = member_web.get("/alerts", {"state": "firing", "severity": "page"}).content.decode()
    assert f'data-alert="{firing.pk}"' in html
    assert f'data-alert="{firing.pk}"' not in member_web.get("/alerts", {"state": "resolved"}).content.decode()
    assert f'data-alert="{firing.pk}"' not in member_web.get("/alerts", {"severity": "ticket"}).content.decode()
    bad = member_web.get("/alerts", {"state": "exploded"}).content.decode()
    assert 'class="errors"' in bad and "state" in bad


def test_a_member_acknowledges_and_silences_an_alert(member_web, member_user, firing):
    response = member_web.post(f"/alerts/{firing.pk}/acknowledge", {"next": "/alerts?state=firing"})
    assert response.status_code == 302 and response["Location"] == "/alerts?state=firing"
    firing.refresh_from_db()
    assert firing.acknowledged_by == member_user and firing.acknowledged_at is not None
    before = timezone.now()
    assert member_web.post(f"/alerts/{firing.pk}/silence", {"minutes": "60"}).status_code == 302
    firing.refresh_from_db()
    assert timedelta(minutes=59) < firing.silenced_until - before <= timedelta(minutes=61)
    html = member_web.get("/alerts").content.decode()
    assert 'data-testid="acknowledged"' in html and 'data-testid="silenced"' in html


def test_a_viewer_cannot_silence_and_an_off_list_duration_is_refused(viewer_web, member_web, firing):
    viewer_web.post(f"/alerts/{firing.pk}/silence", {"minutes": "60"})
    viewer_web.post(f"/alerts/{firing.pk}/acknowledge")
    member_web.post(f"/alerts/{firing.pk}/silence", {"minutes": "100000"})
    firing.refresh_from_db()
    assert firing.silenced_until is None and firing.acknowledged_at is None
    assert "Acknowledge</button>" not in viewer_web.get("/alerts").content.decode()


def test_another_tenants_alert_is_404(other_web, firing):
    assert other_web.post(f"/alerts/{firing.pk}/acknowledge").status_code == 404
    assert f'data-alert="{firing.pk}"' not in other_web.get("/alerts").content.decode()


def test_the_use_case_page_lists_the_deployments_serving_it(member_web, other_web, firing):
    html = member_web.get("/slo/ambient_scribe").content.decode()
    serving = html[html.index('data-testid="serving"') :]
    assert f'data-deployment="{firing.deployment.name}"' in serving and 'data-testid="slo-state"' in serving
    assert 'data-testid="serving"' not in other_web.get("/slo/ambient_scribe").content.decode()
