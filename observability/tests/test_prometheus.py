"""/metrics: who may read it, what it shows (against the database and the SLO API), bounded queries, Grafana JSON."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from deployments import reconciler
from jobs.models import Job
from observability.exposition import ControlPlaneCollector
from observability.tests.conftest import running_deployment

pytestmark = pytest.mark.django_db
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "usecase-foundry.json"
TYPE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def session_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def exported_names(text: str) -> set[str]:
    """Every series name the exposition declares, those without a sample now included (from the TYPE lines)."""
    names = {name for name, _ in samples(text)}
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        names.update(name + suffix for suffix in TYPE_SUFFIXES.get(kind, ("",)))
    return names


def test_anonymous_is_401_and_a_tenant_member_403(client, member_user, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert session_for(member_user).get("/metrics").status_code == 403


def test_no_token_configured_means_no_token_works(client, settings):
    settings.METRICS_BEARER_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_the_token_and_a_superuser_session_read_it(client, superuser, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert "# TYPE ucf_deployments gauge" in response.content.decode()
    assert session_for(superuser).get("/metrics").status_code == 200
    openmetrics = session_for(superuser).get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.content.decode().rstrip().endswith("# EOF")


def test_shows_statuses_slo_and_cost_as_the_database_and_slo_api_say(collected, superuser, member_client):
    deployment, _ = collected
    text = session_for(superuser).get("/metrics").content.decode()
    found = samples(text)
    assert found[("ucf_deployments", frozenset({("status", "RUNNING")}))] == 1
    running_jobs = Job.objects.filter(status=Job.Status.RUNNING).count()
    assert running_jobs and found[("ucf_jobs", frozenset({("status", "RUNNING")}))] == running_jobs
    labels = {
        ("deployment_id", str(deployment.pk)),
        ("deployment", deployment.name),
        ("tenant", deployment.tenant.name),
        ("usecase_id", "ambient_scribe"),
    }
    slo = member_client.get(f"/api/v1/deployments/{deployment.pk}/slo").json()
    for objective in slo["objectives"]:
        target = {("target", objective["target"])}
        assert found[("ucf_deployment_slo_threshold_seconds", frozenset(labels | target))] == objective["threshold_s"]
        for window in ("5m", "1h", "30d"):
            key = ("ucf_deployment_slo_attainment_ratio", frozenset(labels | target | {("window", window)}))
            assert found[key] == pytest.approx(objective["attainment"][window], abs=1e-6)
        budget = found[("ucf_deployment_error_budget_remaining_ratio", frozenset(labels | target))]
        assert budget == pytest.approx(objective["error_budget_remaining"], abs=1e-6)
    assert found[("ucf_deployment_slo_objective_ratio", frozenset(labels))] == 0.99
    hourly = sum(
        float(j.hourly_rate) for j in Job.objects.filter(usecase_deployment_id=deployment.pk, status="RUNNING")
    )
    assert hourly > 0 and found[("ucf_deployment_hourly_rate_dollars", frozenset(labels))] == pytest.approx(hourly)
    assert found[("ucf_deployment_cost_dollars", frozenset(labels | {("window", "1h")}))] > 0


def test_reconcile_passes_are_counted_and_timed(deployment, superuser):
    def read():
        found = samples(session_for(superuser).get("/metrics").content.decode())
        return (
            found[("ucf_reconcile_passes_total", frozenset({("outcome", "done")}))],
            found[("ucf_reconcile_pass_duration_seconds_count", frozenset())],
            found[("ucf_reconcile_pass_duration_seconds_bucket", frozenset({("le", "+Inf")}))],
        )

    before = read()
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    after = read()
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 2, 2]


def test_queue_length_is_read_from_the_broker():
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    current_app.send_task("observability.nonexistent", queue=queue)
    current_app.send_task("observability.nonexistent", queue=queue)
    try:
        family = next(f for f in ControlPlaneCollector(queues=[queue, f"{queue}-empty"]).collect()
                      if f.name == "ucf_celery_queue_length")  # fmt: skip
        assert {s.labels["queue"]: s.value for s in family.samples} == {queue: 2, f"{queue}-empty": 0}
    finally:
        with current_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)


def test_a_scrape_costs_the_same_queries_for_one_or_two_deployments(collected, admin_user, project, tenant, superuser):
    client = session_for(superuser)
    client.get("/metrics")  # warm the session and the caches

    def scrape() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/metrics").status_code == 200
        return len(queries)

    one = scrape()
    running_deployment(user=admin_user, project=project, tenant=tenant, name="second")
    two = scrape()
    assert one == two <= 13  # 12 of the control plane + 1 of serving's endpoint queues (serving/exposition.py)


def test_the_grafana_dashboard_is_valid_and_asks_only_for_exported_series(collected, superuser):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    assert len(exprs) >= 15
    exported = exported_names(session_for(superuser).get("/metrics").content.decode())
    for expr in exprs:
        used = set(re.findall(r"\b(ucf_[a-z0-9_]+)", expr))
        assert used, expr
        assert used <= exported, (expr, used - exported)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "usecase-foundry"
