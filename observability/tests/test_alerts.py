"""Alerts: the fast-burn alert fires on an under-sized deployment and resolves after a scale-up; webhooks retry."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from deployments.models import DeploymentEvent
from deployments.services import deployment_scale
from observability.alerts import alert_fire, alerts_evaluate
from observability.collect import floor_minute, metrics_collect
from observability.models import Alert, AlertRule, Delivery, DeploymentMonitoring, NotificationChannel
from observability.notify import MAX_ATTEMPTS, backoff_seconds, delivery_attempt
from observability.tests.conftest import settle
from observability.workload import sized_rate

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers the given status codes in turn (the last one repeats)."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.bodies = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"broken")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def fast_burn(deployment) -> AlertRule:
    return AlertRule.objects.get(deployment=deployment, name="slo-fast-burn")


def test_fast_burn_fires_when_under_sized_and_resolves_after_a_scale_up(deployment, admin_user, tenant, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    channel = NotificationChannel.objects.create(
        tenant=tenant, name="ops", kind="email", target={"emails": ["ops@example.com"]}
    )
    DeploymentMonitoring.objects.create(deployment=deployment, requests_per_second=sized_rate(deployment) * 8)
    now = floor_minute(timezone.now() + timedelta(minutes=20))
    metrics_collect(now=now)
    assert alerts_evaluate(now=now).fired >= 1
    alert = Alert.objects.get(rule=fast_burn(deployment), state="firing")
    assert alert.value > 14.4 and alert.threshold == 14.4 and "burn rate" in alert.message
    assert DeploymentEvent.objects.filter(deployment=deployment, kind="alert_firing", data__alert=alert.pk).exists()
    (delivery,) = Delivery.objects.filter(alert=alert, channel=channel)
    assert delivery_attempt(delivery_id=delivery.pk, now=now) is None
    assert mail.outbox[-1].to == ["ops@example.com"] and "slo-fast-burn" in mail.outbox[-1].subject
    assert alerts_evaluate(now=now).fired == 0  # still firing: no second alert

    current = deployment.components.get(key="llm", retired_at__isnull=True, is_candidate=False)
    deployment_scale(
        user=admin_user, deployment=deployment, scale={"llm": {"replicas": current.job.resources["replicas"] * 6}}
    )
    settle(deployment)
    later = now + timedelta(minutes=20)
    metrics_collect(now=later)
    assert alerts_evaluate(now=later).resolved >= 1
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_at == later
    assert DeploymentEvent.objects.filter(deployment=deployment, kind="alert_resolved").exists()
    assert Delivery.objects.filter(alert=alert, event="resolved").count() == 1


def test_a_failing_webhook_is_retried_with_back_off_then_marked_failed(deployment, tenant):
    rule = fast_burn_rule(deployment)
    now = timezone.now()
    with Receiver([500]) as broken, Receiver([503, 502, 200]) as flaky:
        NotificationChannel.objects.create(tenant=tenant, name="broken", kind="webhook", target={"url": broken.url})
        NotificationChannel.objects.create(tenant=tenant, name="slack", kind="slack", target={"url": flaky.url})
        alert = alert_fire(rule=rule, deployment=deployment, value=20.0, threshold=14.4, message="x", now=now)
        deliveries = {d.channel.name: d for d in Delivery.objects.filter(alert=alert).select_related("channel")}
        waits = []
        while (wait := delivery_attempt(delivery_id=deliveries["broken"].pk, now=now)) is not None:
            waits.append(wait)
        assert waits == [backoff_seconds(n) for n in range(1, MAX_ATTEMPTS)] == [2, 4, 8, 16]
        failed = Delivery.objects.get(pk=deliveries["broken"].pk)
        assert failed.status == "failed" and failed.attempts == MAX_ATTEMPTS and "HTTP 500" in failed.last_error
        assert len(broken.bodies) == MAX_ATTEMPTS
        assert broken.bodies[0]["alert"]["rule"] == "slo-fast-burn" and broken.bodies[0]["event"] == "firing"
        while delivery_attempt(delivery_id=deliveries["slack"].pk, now=now) is not None:
            pass
        sent = Delivery.objects.get(pk=deliveries["slack"].pk)
        assert sent.status == "sent" and sent.attempts == 3 and len(flaky.bodies) == 3
        assert "slo-fast-burn firing" in flaky.bodies[-1]["text"]


def fast_burn_rule(deployment) -> AlertRule:
    alerts_evaluate(now=timezone.now())  # creates the default rules
    return fast_burn(deployment)
