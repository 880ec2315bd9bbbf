"""A real Celery worker delivers alert notifications: a webhook that keeps failing is tried five times with growing
back-off and then marked failed with its last error, while a working one gets exactly one POST; nothing is lost."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from core.testing import wait_for
from deployments import reconciler
from deployments.models import UseCaseDeployment
from deployments.services import deployment_create
from deployments.tests.factories import make_cluster, seed_system_templates
from observability.alerts import alert_fire, rules_ensure
from observability.models import AlertRule, Delivery, NotificationChannel
from observability.notify import MAX_ATTEMPTS, backoff_seconds
from observability.tests.conftest import MODEL
from observability.tests.test_alerts import Receiver
from templates_app.models import UseCaseTemplate

pytestmark = [pytest.mark.integration]


class TimedReceiver(Receiver):
    """The test server, noting when each POST arrived."""

    def __init__(self, statuses: list[int]):
        super().__init__(statuses)
        self.times: list[float] = []
        handler = self.server.RequestHandlerClass
        original = handler.do_POST
        receiver = self

        def do_post(self):
            receiver.times.append(time.monotonic())
            original(self)

        handler.do_POST = do_post


def running(admin_user, project, tenant) -> UseCaseDeployment:
    """A running deployment; the worker may run some of its passes, so wait for the status rather than count."""
    seed_system_templates()
    deployment, _ = deployment_create(
        user=admin_user,
        template=UseCaseTemplate.objects.get(slug="simple-rag-v1", tenant__isnull=True),
        project=project,
        cluster=make_cluster(tenant=tenant, name="hooks-cluster"),
        parameters={"model_id": MODEL},
        name="hooked",
    )

    def settled():
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        return UseCaseDeployment.objects.get(pk=deployment.pk).status == "RUNNING"

    wait_for(settled, timeout=60, message="the deployment RUNNING")
    deployment.refresh_from_db()
    return deployment


def test_a_failing_webhook_is_retried_by_the_worker_then_marked_failed(
    celery_worker_process, admin_user, project, tenant
):
    deployment = running(admin_user, project, tenant)
    rules_ensure(deployments=[deployment])
    rule = AlertRule.objects.get(deployment=deployment, name="slo-fast-burn")
    with TimedReceiver([500]) as broken, TimedReceiver([200]) as working:
        failing = NotificationChannel.objects.create(
            tenant=tenant, name="broken", kind="webhook", target={"url": broken.url}
        )
        ok = NotificationChannel.objects.create(tenant=tenant, name="fine", kind="webhook", target={"url": working.url})
        alert = alert_fire(
            rule=rule, deployment=deployment, value=20.0, threshold=14.4, message="burning", now=timezone.now()
        )  # its deliveries are queued for the worker when the transaction commits

        def settled():
            statuses = set(Delivery.objects.filter(alert=alert).values_list("status", flat=True))
            return statuses <= {"sent", "failed"} and statuses

        wait_for(settled, timeout=90, interval=0.5, message="both deliveries settled")

    bad = Delivery.objects.get(alert=alert, channel=failing)
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    assert bad.last_error.startswith("HTTP 500")
    assert len(broken.bodies) == MAX_ATTEMPTS
    assert all(body["alert"]["id"] == alert.pk and body["event"] == "firing" for body in broken.bodies)
    gaps = [later - earlier for earlier, later in zip(broken.times, broken.times[1:], strict=False)]
    for attempt, gap in enumerate(gaps, start=1):  # 2, 4, 8, 16 s: never sooner than the back-off
        assert gap >= backoff_seconds(attempt) - 0.5, (attempt, gaps)
    good = Delivery.objects.get(alert=alert, channel=ok)
    assert (good.status, good.attempts, good.last_error) == ("sent", 1, "")
    assert len(working.bodies) == 1 and working.bodies[0]["deployment"]["id"] == str(deployment.pk)
