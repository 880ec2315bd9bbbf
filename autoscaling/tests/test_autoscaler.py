"""The autoscaler on real deployments: it scales through the scale service, records why, and leaves nothing
half-made when it dies mid-decision; the API for policies and decisions."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from autoscaling import endpoint_queue
from autoscaling.models import AutoscalingPolicy, ScalingDecision
from autoscaling.services import autoscale_all, deployment_autoscale, policy_set
from autoscaling.tests.factories import rollups
from core.exceptions import ValidationError
from deployments import reconciler
from deployments.models import DeploymentEvent, DeploymentRevision
from deployments.services import deployment_scale
from deployments.tests.factories import deploy
from templates_app.services import template_validate_content

pytestmark = pytest.mark.django_db

SLO_POLICY = {"min_replicas": 1, "max_replicas": 3, "signal": "slo_ttft", "target": 1.5, "scale_up_window_s": 60}


@pytest.fixture
def running(templates, member_user, project, cluster):
    return deploy(user=member_user, project=project, cluster=cluster, run=True)


def url(deployment, what="autoscaling"):
    return f"/api/v1/deployments/{deployment.pk}/{what}"


def test_an_slo_breach_scales_up_through_the_scale_service_with_its_reason(running, member_user):
    policy_set(user=member_user, deployment=running, components={"llm": SLO_POLICY})
    now = timezone.now()
    rollups(deployment=running, key="llm", end=now, minutes=3, replicas=1, ttft=1.8)
    [decision] = deployment_autoscale(deployment_id=running.pk, now=now)
    assert (decision.from_replicas, decision.to_replicas, decision.outcome) == (1, 2, "applied")
    assert decision.reason.startswith("p95 TTFT 1.8 s > 1.5 s target: 1 → 2 replicas")
    running.refresh_from_db()
    assert running.status == "UPDATING" and running.pending_revision.kind == DeploymentRevision.Kind.SCALE
    assert running.pending_revision.scale["llm"]["replicas"] == 2
    event = running.events.get(kind=DeploymentEvent.Kind.AUTOSCALED)
    assert event.message == f"llm: {decision.reason}" and event.data["to"] == 2
    # While the change rolls out the autoscaler leaves the deployment alone: no second decision.
    assert deployment_autoscale(deployment_id=running.pk, now=now + timedelta(seconds=15)) == []


def test_down_only_after_the_stabilisation_window_and_never_below_min(running, member_user):
    deployment_scale(user=member_user, deployment=running, scale={"llm": 2})
    reconciler.deployment_reconcile(deployment_id=running.pk)
    running.refresh_from_db()
    assert running.status == "RUNNING"
    policy_set(user=member_user, deployment=running, components={"llm": {**SLO_POLICY, "scale_down_window_s": 300}})
    now = timezone.now().replace(second=0, microsecond=0)
    # p95 TTFT 0.3 s against 1.5 s all along, but the GPUs busy (90%) until five minutes ago: one replica fewer
    # would overload them. Then five quiet minutes (20%), where one replica is enough.
    rollups(deployment=running, key="llm", end=now - timedelta(minutes=5), minutes=3, replicas=2, ttft=0.3, gpu=0.9)
    rollups(deployment=running, key="llm", end=now, minutes=5, replicas=2, ttft=0.3, gpu=0.2)
    # Two minutes ago the 300 s down window still held busy minutes: no scale-down yet.
    assert deployment_autoscale(deployment_id=running.pk, now=now - timedelta(minutes=2)) == []
    # Now the whole window asks for fewer: one step down through the scale service.
    [down] = deployment_autoscale(deployment_id=running.pk, now=now)
    assert (down.direction, down.from_replicas, down.to_replicas, down.outcome) == ("down", 2, 1, "applied")
    reconciler.deployment_reconcile(deployment_id=running.pk)
    # At the minimum, however quiet: nothing more, ten minutes later either.
    later = now + timedelta(minutes=10)
    rollups(deployment=running, key="llm", end=later, minutes=10, replicas=1, ttft=0.1, requests=0)
    assert deployment_autoscale(deployment_id=running.pk, now=later) == []


def test_within_target_nothing_is_decided(running, member_user):
    policy_set(user=member_user, deployment=running, components={"llm": SLO_POLICY})
    now = timezone.now()
    rollups(deployment=running, key="llm", end=now, minutes=3, replicas=1, ttft=1.2)
    assert autoscale_all(now=now).decisions == 0
    assert not ScalingDecision.objects.exists()


def test_a_worker_dying_mid_decision_leaves_no_half_made_change(running, member_user):
    policy_set(user=member_user, deployment=running, components={"llm": SLO_POLICY})
    now = timezone.now()
    rollups(deployment=running, key="llm", end=now, minutes=3, replicas=1, ttft=1.8)
    revisions = running.revisions.count()
    killed = mock.patch("autoscaling.services.event_record", side_effect=RuntimeError("worker killed"))
    with killed, pytest.raises(RuntimeError):
        deployment_autoscale(deployment_id=running.pk, now=now)
    running.refresh_from_db()
    assert running.status == "RUNNING" and running.pending_revision is None
    assert running.revisions.count() == revisions
    assert not ScalingDecision.objects.exists()
    assert not running.components.filter(is_candidate=True).exists()
    # The next pass makes the whole change.
    assert len(deployment_autoscale(deployment_id=running.pk, now=now)) == 1


def test_the_template_block_is_the_policy_until_the_deployment_sets_its_own(running, member_client):
    template = running.template
    components = [dict(c) for c in template.components]
    for component in components:
        if component["id"] == "llm":
            component["autoscaling"] = {"min_replicas": 0, "max_replicas": 2, "signal": "concurrency", "target": 8}
    type(template).objects.filter(pk=template.pk).update(components=components)
    body = member_client.get(url(running)).json()
    llm = next(c for c in body["components"] if c["component"] == "llm")
    assert llm["source"] == "template" and llm["policy"]["min_replicas"] == 0 and llm["replicas"] == 1
    answer = member_client.put(url(running), {"components": {"llm": {"max_replicas": 4}}}, format="json")
    assert answer.status_code == 200, answer.json()
    llm = next(c for c in answer.json()["components"] if c["component"] == "llm")
    assert llm["source"] == "api" and llm["policy"]["max_replicas"] == 4 and llm["policy"]["min_replicas"] == 0
    dropped = member_client.put(url(running), {"components": {"llm": None}}, format="json")
    assert next(c for c in dropped.json()["components"] if c["component"] == "llm")["source"] == "template"


def test_put_answers_field_level_400s_403_and_404(running, member_client, viewer_client, other_client):
    bad = member_client.put(
        url(running),
        {"components": {"llm": {"min_replicas": 3, "max_replicas": 2, "signal": "x"}, "nope": {}}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"components.llm.min_replicas", "components.llm.signal", "components.nope"}
    assert member_client.put(url(running), {"components": []}, format="json").status_code == 400
    assert viewer_client.put(url(running), {"components": {"llm": SLO_POLICY}}, format="json").status_code == 403
    assert other_client.get(url(running)).status_code == 404
    assert other_client.get(url(running, "scaling")).status_code == 404
    assert not AutoscalingPolicy.objects.exists()


def test_decisions_list_paginated_and_filtered_in_constant_queries(
    running, member_user, member_client, django_assert_max_num_queries
):
    for i in range(5):
        ScalingDecision.objects.create(
            deployment=running, component_key="llm", from_replicas=1 + i, to_replicas=2 + i, direction="up",
            reason=f"step {i}",
        )  # fmt: skip
    ScalingDecision.objects.create(
        deployment=running, component_key="llm", from_replicas=2, to_replicas=1, direction="down", reason="quiet"
    )
    with django_assert_max_num_queries(8):
        page = member_client.get(url(running, "scaling"), {"limit": 2}).json()
    assert page["count"] == 6 and len(page["results"]) == 2 and page["results"][0]["reason"] == "quiet"
    downs = member_client.get(url(running, "scaling"), {"direction": "down"}).json()
    assert [d["reason"] for d in downs["results"]] == ["quiet"]
    assert member_client.get(url(running, "scaling"), {"colour": "red"}).status_code == 400
    assert member_client.get(url(running, "scaling"), {"direction": "sideways"}).status_code == 400
    with django_assert_max_num_queries(8):
        assert member_client.get(url(running)).status_code == 200


def test_the_template_schema_checks_the_autoscaling_block(running):
    content = {field: getattr(running.template, field) for field in type(running.template).CONTENT_FIELDS}
    content["id"] = running.template.slug
    components = [dict(c) for c in content["components"]]
    components[0]["autoscaling"] = {"min_replicas": 3, "max_replicas": 2, "signal": "vibes"}
    with pytest.raises(ValidationError) as raised:
        template_validate_content({**content, "components": components})
    assert {"components.0.autoscaling.signal"} <= set(raised.value.errors)
    components[0]["autoscaling"] = {"min_replicas": 3, "max_replicas": 2}
    with pytest.raises(ValidationError) as raised:
        template_validate_content({**content, "components": components})
    assert "components.0.autoscaling.min_replicas" in raised.value.errors
    components[0]["autoscaling"] = {"min_replicas": 0, "max_replicas": 2, "signal": "slo_ttft", "idle_timeout_s": 300}
    template_validate_content({**content, "components": components})


@pytest.mark.skipif(not endpoint_queue.available(), reason="the live queue needs REDIS_URL")
def test_requests_waiting_at_the_endpoint_now_scale_up_before_the_rollups_show_it(running, member_user):
    # The endpoint routes to the orchestrator; its rollups are calm (nothing to scale up on for the window) ...
    policy = {"min_replicas": 1, "max_replicas": 4, "signal": "concurrency", "target": 10, "max_step": 2}
    policy_set(user=member_user, deployment=running, components={"orchestrator": policy})
    now = timezone.now()
    rollups(deployment=running, key="orchestrator", end=now, minutes=3, replicas=1, running=8)
    assert deployment_autoscale(deployment_id=running.pk, now=now) == []
    # ... but 15 requests wait in its queue at this tick: (8 running + 15 waiting) / 10 → 3 replicas, now.
    for i in range(15):
        endpoint_queue.join(deployment_id=running.pk, ticket=f"t{i}", priority=5, now=now.timestamp(),
                            max_length=100, timeout_s=30)  # fmt: skip
    [decision] = deployment_autoscale(deployment_id=running.pk, now=now)
    assert (decision.component_key, decision.from_replicas, decision.to_replicas) == ("orchestrator", 1, 3)
    assert decision.reason.startswith("15 request(s) waiting now")
