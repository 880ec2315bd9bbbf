"""The autoscaling page: the policy form per component, errors beside the field, the replicas chart with the
decisions marked, and the same tenant and role rules as the API."""

import pytest
from django.utils import timezone

from autoscaling.models import ScalingDecision
from autoscaling.selectors import effective_policies
from deployments.tests.factories import deploy
from serving.services import traffic_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(templates, member_user, project, cluster):
    return deploy(user=member_user, project=project, cluster=cluster, run=True)


def url(deployment):
    return f"/deployments/{deployment.pk}/autoscaling"


def form(**llm) -> dict:
    base = {"signal": "concurrency", "scale_up_window_s": 60, "scale_down_window_s": 300, "max_step": 2,
            "idle_timeout_s": 600, "enabled": "on"}  # fmt: skip
    data = {}
    for key in ("vector-db", "embedding", "llm", "orchestrator"):
        values = {**base, **(llm if key == "llm" else {})}
        data.update({f"{key}-{name}": value for name, value in values.items()})
    return data


def test_the_policy_form_saves_and_shows_errors_beside_the_field(running, member_web):
    page = member_web.get(url(running))
    assert page.status_code == 200 and b"llm" in page.content and b"No scaling decision" in page.content
    saved = member_web.post(url(running), form(min_replicas=0, max_replicas=3))
    assert saved.status_code == 302
    policy, source = effective_policies(running)["llm"]
    assert (policy.min_replicas, policy.max_replicas, source) == (0, 3, "api")
    assert "vector-db" not in effective_policies(running)  # empty min and max: no policy of its own
    bad = member_web.post(url(running), form(min_replicas=3, max_replicas=2))
    assert bad.status_code == 400 and b"At most max_replicas (2)." in bad.content


def test_the_chart_marks_each_decision_with_its_reason(running, member_web):
    ScalingDecision.objects.create(
        deployment=running, component_key="llm", from_replicas=1, to_replicas=2, direction="up",
        reason="p95 TTFT 1.8 s > 1.5 s target: 1 → 2 replicas",
    )  # fmt: skip
    page = member_web.get(url(running)).content.decode()
    assert 'data-testid="replicas-chart"' in page and page.count("<circle") == 1
    assert "p95 TTFT 1.8 s &gt; 1.5 s target: 1 → 2 replicas" in page


def test_viewers_look_and_other_tenants_see_nothing(running, viewer_web, other_web):
    assert viewer_web.get(url(running)).status_code == 200
    assert viewer_web.post(url(running), form(min_replicas=1, max_replicas=2)).status_code == 403
    assert other_web.get(url(running)).status_code == 404


def test_the_page_shows_the_endpoint_queue_counts(running, member_web):
    traffic_count(deployment_id=running.pk, at=timezone.now(), column="queued", extra={"queue_full": 3, "dequeued": 1})
    page = member_web.get(url(running)).content.decode()
    assert 'data-testid="queue-counts"' in page
    assert "<dt>Queued (24 h)</dt><dd>1</dd>" in page and "<dt>Refused, queue full (24 h)</dt><dd>3</dd>" in page
    assert "<dt>Served from the queue (24 h)</dt><dd>1</dd>" in page


def test_the_scale_page_carries_the_policy_form(running, member_web, viewer_web):
    page = member_web.get(f"/deployments/{running.pk}/scale").content.decode()
    assert f'action="/deployments/{running.pk}/autoscaling" data-testid="policy-form"' in page
    assert 'name="llm-min_replicas"' in page and "Save the policy" in page
    # What it posts is the autoscaling page's form: the policy is saved.
    assert member_web.post(url(running), form(min_replicas=0, max_replicas=2)).status_code == 302
    assert effective_policies(running)["llm"][0].max_replicas == 2
    assert "Save the policy" not in viewer_web.get(f"/deployments/{running.pk}/scale").content.decode()
