"""Latency alert rules: read from a template's `observability.alerts` (the shipped enterprise-rag-v1's rule has no
`kind`), created through the API with field-level 400s, and evaluated on a component's merged sketches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from deployments.tests.factories import seed_system_templates
from jobs.models import Job
from observability.alerts import alerts_evaluate
from observability.collect import floor_minute, metrics_collect
from observability.models import Alert, AlertRule, MetricRollup
from observability.sketch import sketch_merge_json, sketch_quantile
from observability.template_rules import template_rules
from templates_app.models import UseCaseTemplate


def test_a_threshold_without_kind_is_a_latency_rule_named_after_its_component_and_percentile():
    rules, skipped = template_rules(
        {
            "alerts": [
                {"name": "orchestrator-p95-latency", "threshold_ms": 3000},
                {"name": "api-latency", "component": "api", "quantile": 0.9, "threshold_s": 1, "window": "1h"},
                {"name": "cost", "kind": "cost_over_budget", "budget": 50, "severity": "ticket"},
                {"name": "mystery"},
                {"name": "nobody-latency", "threshold_ms": 100},
                "not a mapping",
            ]
        }
    )
    assert [(r.name, r.kind, r.severity, r.params) for r in rules] == [
        ("orchestrator-p95-latency", "latency", "page",
         {"component": "orchestrator", "quantile": 0.95, "threshold_s": 3.0, "window": "5m"}),
        ("api-latency", "latency", "page", {"component": "api", "quantile": 0.9, "threshold_s": 1.0, "window": "1h"}),
        ("cost", "cost_over_budget", "ticket", {"budget": 50}),
    ]  # fmt: skip
    assert len(skipped) == 3 and "mystery" in skipped[0] and "which component" in skipped[1]


@pytest.mark.django_db
def test_the_shipped_enterprise_rag_template_gets_its_latency_rule():
    seed_system_templates()
    template = UseCaseTemplate.objects.get(slug="enterprise-rag-v1", tenant__isnull=True)
    rules, skipped = template_rules(template.observability)
    assert not skipped
    assert [(r.name, r.kind, r.params["component"], r.params["quantile"], r.params["threshold_s"]) for r in rules] == [
        ("orchestrator-p95-latency", "latency", "orchestrator", 0.95, 3.0)
    ]


@pytest.mark.django_db
def test_api_latency_rule_params_are_checked(member_client, deployment):
    url = "/api/v1/alert-rules"
    body = {"deployment_id": str(deployment.pk), "name": "slow-llm", "kind": "latency"}
    bad = member_client.post(
        url, {**body, "params": {"component": "llm", "quantile": 2, "threshold_s": 1}}, format="json"
    )
    assert bad.status_code == 400 and "params" in bad.json()["errors"]
    ok = member_client.post(
        url, {**body, "params": {"component": "llm", "quantile": 0.99, "threshold_ms": 500}}, format="json"
    )
    assert ok.status_code == 201, ok.json()
    assert ok.json()["params"] == {"component": "llm", "quantile": 0.99, "threshold_s": 0.5, "window": "5m"}


@pytest.mark.django_db
def test_a_latency_rule_fires_on_the_components_merged_percentile_and_resolves(deployment):
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(minutes=30))
    now = floor_minute(timezone.now())
    metrics_collect(now=now)
    since = now - timedelta(minutes=5)
    key = "orchestrator"
    rows = MetricRollup.objects.filter(deployment=deployment, component_key=key, start__gte=since, start__lt=now)
    assert rows.count() == 5
    p95 = sketch_quantile(sketch_merge_json(rows.values_list("e2e", flat=True)), 0.95)
    assert p95 and p95 > 0
    rule = AlertRule.objects.create(
        deployment=deployment, name="svc-p95", kind="latency",
        params={"component": key, "quantile": 0.95, "threshold_s": p95 * 0.9, "window": "5m"},
    )  # fmt: skip
    alerts_evaluate(now=now)
    alert = Alert.objects.get(rule=rule)
    assert alert.state == "firing" and alert.value == pytest.approx(p95, abs=1e-6)
    assert f"{key} p95 latency" in alert.message
    AlertRule.objects.filter(pk=rule.pk).update(params={**rule.params, "threshold_s": p95 * 1.1})
    alerts_evaluate(now=now)
    alert.refresh_from_db()
    assert alert.state == "resolved"
