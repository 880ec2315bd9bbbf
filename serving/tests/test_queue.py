"""The endpoint's request queue: a real Redis line behind the gateway, bounded, ordered by key priority, timed out.

These run against the REDIS_URL of the test settings (the queue is shared across processes only through Redis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from autoscaling import endpoint_queue as queue
from deployments.models import ComponentDeployment
from serving import services
from serving.models import EndpointQueue, EndpointTraffic
from serving.tests.factories import running_with_key, send

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not queue.available(), reason="the request queue needs REDIS_URL"),
]


@pytest.fixture
def served(templates, member_user, project, cluster):
    return running_with_key(user=member_user, project=project, cluster=cluster)


def queue_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/queue"


def counts(deployment) -> dict:
    rows = list(EndpointTraffic.objects.filter(deployment=deployment))
    names = ("served", "unavailable", "queued", "queue_full", "queue_timeout", "dequeued", "queue_length_max")
    return {name: (max if name == "queue_length_max" else sum)(getattr(row, name) for row in rows) for name in names}


def stop(deployment, status="STOPPED"):
    ComponentDeployment.objects.filter(deployment=deployment, key="orchestrator").update(status=status)


def resend(deployment, secret, ticket):
    return Client().post(
        f"/serve/{deployment.endpoint_slug}/v1/chat",
        data=b"{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_X_QUEUE_TICKET=ticket,
    )


def test_a_full_queue_answers_429_and_counts_it(served, member_client):
    deployment, _, secret = served
    response = member_client.put(queue_url(deployment), {"max_length": 2}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["max_length"] == 2 and response.json()["timeout_s"] == EndpointQueue.DEFAULT_TIMEOUT_S
    stop(deployment)
    first, second, third = (send(deployment.endpoint_slug, secret) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 429)
    assert first["X-Queue-Position"] == "1" and second["X-Queue-Position"] == "2"
    assert "queue is full" in third.json()["detail"]
    assert int(third["Retry-After"]) >= 1
    assert counts(deployment) | {"served": 0} == {
        "served": 0,
        "unavailable": 0,
        "queued": 2,
        "queue_full": 1,
        "queue_timeout": 0,
        "dequeued": 0,
        "queue_length_max": 2,
    }
    assert member_client.get(queue_url(deployment)).json()["length"] == 2


def test_priority_by_key_orders_the_line_and_arrival_does_not(served, member_user, member_client):
    deployment, _, low = served
    _, high = services.key_create(user=member_user, deployment=deployment, name="urgent", priority=0)
    stop(deployment)
    low_ticket = send(deployment.endpoint_slug, low)["X-Queue-Ticket"]
    assert send(deployment.endpoint_slug, high)["X-Queue-Position"] == "1"  # ahead of the earlier, default (5) key
    assert resend(deployment, low, low_ticket)["X-Queue-Position"] == "2"
    assert member_client.patch(queue_url(deployment), {"priority_by": "arrival"}, format="json").status_code == 200
    assert send(deployment.endpoint_slug, high)["X-Queue-Position"] == "3"  # FIFO now: behind both


def test_an_entry_past_its_timeout_is_dropped_and_counted_and_a_waiting_one_is_served(served, member_user):
    deployment, _, secret = served
    services.queue_settings_set(user=member_user, deployment=deployment, timeout_s=10)
    stop(deployment)
    start = timezone.now().replace(second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        late = send(deployment.endpoint_slug, secret)["X-Queue-Ticket"]
    with time_machine.travel(start + timedelta(seconds=8), tick=False):
        patient = send(deployment.endpoint_slug, secret)["X-Queue-Ticket"]
    with time_machine.travel(start + timedelta(seconds=12), tick=False):
        dropped = resend(deployment, secret, late)
        assert dropped.status_code == 429
        assert "longer than 10 s" in dropped.json()["detail"]
        stop(deployment, "RUNNING")
        served_now = resend(deployment, secret, patient)
    assert served_now.status_code == 200, served_now.content
    assert served_now.json()["queue"] == {"waited_ms": 4000}
    assert counts(deployment) | {"queue_length_max": 0} == {
        "served": 1,
        "unavailable": 0,
        "queued": 2,
        "queue_full": 0,
        "queue_timeout": 1,  # once, when dropped: not again when its ticket came back
        "dequeued": 1,
        "queue_length_max": 0,
    }
    assert EndpointTraffic.objects.get(deployment=deployment).queue_wait_ms == 4000
    assert queue.length(deployment_id=deployment.pk) == 0


def test_the_defaults_apply_until_set_and_only_writers_change_them(served, member_client, viewer_client):
    deployment, _, _ = served
    body = member_client.get(queue_url(deployment)).json()
    assert body == {
        "deployment_id": str(deployment.pk),
        "max_length": 100,
        "timeout_s": 30,
        "concurrency_per_replica": None,
        "priority_by": "key",
        "length": 0,
        "updated_at": None,
    }
    assert viewer_client.put(queue_url(deployment), {"max_length": 5}, format="json").status_code == 403
    assert not EndpointQueue.objects.exists()


def test_another_tenant_cannot_see_or_change_the_queue(served, other_client):
    deployment, _, _ = served
    assert other_client.get(queue_url(deployment)).status_code == 404
    assert other_client.put(queue_url(deployment), {"max_length": 1}, format="json").status_code == 404
    assert other_client.patch(queue_url(deployment), {"max_length": 1}, format="json").status_code == 404
    assert not EndpointQueue.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_length": 0}, "max_length"),
        ({"max_length": 5001}, "max_length"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": "long"}, "timeout_s"),
        ({"priority_by": "tenant"}, "priority_by"),
        ({"length": 3}, "length"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_queue_settings_are_field_level_400s(served, member_client, body, field):
    deployment, _, _ = served
    response = member_client.put(queue_url(deployment), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_key_priority_is_set_and_checked_through_the_keys_api(served, member_client):
    deployment, key, _ = served
    url = f"/api/v1/deployments/{deployment.pk}/keys/{key.pk}"
    assert member_client.patch(url, {"priority": 10}, format="json").status_code == 400
    assert member_client.patch(url, {"priority": 0}, format="json").json()["priority"] == 0


def test_reading_the_queue_costs_few_queries(served, member_client, django_assert_max_num_queries):
    deployment, _, _ = served
    with django_assert_max_num_queries(6):
        assert member_client.get(queue_url(deployment)).status_code == 200


def test_saturated_running_replicas_queue_requests_and_a_full_queue_is_a_counted_429(served, member_client):
    deployment, _, secret = served
    answer = member_client.patch(queue_url(deployment), {"concurrency_per_replica": 2, "max_length": 2}, format="json")
    assert answer.status_code == 200 and answer.json()["concurrency_per_replica"] == 2, answer.content
    start = timezone.now().replace(second=0, microsecond=0)
    answers = []
    for i in range(5):  # 10 ms apart (equal arrivals would be ordered by ticket)
        with time_machine.travel(start + timedelta(milliseconds=10 * i), tick=False):
            # One running replica takes two requests at once; the next wait in the line, the fifth finds it full.
            answers.append(send(deployment.endpoint_slug, secret))
    assert [a.status_code for a in answers] == [200, 200, 503, 503, 429]
    assert (
        "running replica(s) of 'orchestrator' are saturated (2 of 2 requests in flight)" in answers[2].json()["detail"]
    )
    assert answers[3]["X-Queue-Position"] == "2" and "queue is full" in answers[4].json()["detail"]
    third, fourth = answers[2]["X-Queue-Ticket"], answers[3]["X-Queue-Ticket"]
    with time_machine.travel(start + timedelta(seconds=2), tick=False):
        # The first two have run (their simulated time): the second in line is within the 2 free slots ...
        assert resend(deployment, secret, fourth).status_code == 200
        # ... and a newcomer does not take the last free slot from the one still waiting: it queues behind it.
        newcomer = send(deployment.endpoint_slug, secret)
        assert newcomer.status_code == 503 and newcomer["X-Queue-Position"] == "2"
        served_third = resend(deployment, secret, third)
    assert served_third.status_code == 200 and served_third.json()["queue"] == {"waited_ms": 1980}
    assert counts(deployment) | {"queue_length_max": 0} == {
        "served": 4,
        "unavailable": 0,
        "queued": 3,
        "queue_full": 1,
        "queue_timeout": 0,
        "dequeued": 2,
        "queue_length_max": 0,
    }


def test_without_a_concurrency_limit_a_running_component_takes_every_request(served):
    deployment, _, secret = served
    assert all(send(deployment.endpoint_slug, secret).status_code == 200 for _ in range(5))


def sized_for(deployment, *, per_replica: int, llm_replicas: int) -> None:
    """Give the deployment a sized LLM (as a deploy with a use case and load writes it) running `llm_replicas`."""
    plan = deployment.plan
    entry = plan["sizing"]["components"]["llm"]
    entry |= {"kind": "sized", "chosen": {"concurrency_per_replica": per_replica, "replicas": llm_replicas, "e2e_s": 2}}
    deployment.save(update_fields=["plan"])
    llm = ComponentDeployment.objects.select_related("job").get(deployment=deployment, key="llm", retired_at=None)
    llm.job.resources = {**llm.job.resources, "replicas": llm_replicas}
    llm.job.save(update_fields=["resources"])


def test_the_limit_is_the_llm_replicas_times_the_sized_concurrency_not_the_routed_replicas(served, member_client):
    deployment, _, secret = served
    # The endpoint routes to the orchestrator (1 replica); the LLM behind it runs 2 replicas sized for 2 each.
    sized_for(deployment, per_replica=2, llm_replicas=2)
    start = timezone.now().replace(second=0, microsecond=0)
    answers = []
    for i in range(6):
        with time_machine.travel(start + timedelta(milliseconds=10 * i), tick=False):
            answers.append(send(deployment.endpoint_slug, secret))
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 503, 503]
    assert "running replica(s) of 'llm' are saturated (4 of 4 requests in flight)" in answers[4].json()["detail"]
    # The queue's own figure, when set, overrides the sized one (still per LLM replica): 2 x 3 = 6 in flight.
    answer = member_client.patch(queue_url(deployment), {"concurrency_per_replica": 3}, format="json")
    assert answer.status_code == 200, answer.content
    with time_machine.travel(start + timedelta(milliseconds=100), tick=False):
        assert send(deployment.endpoint_slug, secret).status_code == 503  # two wait in line before it
    with time_machine.travel(start + timedelta(seconds=3), tick=False):  # the first four ran their 2 s
        queued = [a["X-Queue-Ticket"] for a in answers[4:]]
        assert [resend(deployment, secret, t).status_code for t in queued] == [200, 200]


def test_a_stopped_llm_holds_every_request_in_the_line(served):
    deployment, _, secret = served
    sized_for(deployment, per_replica=4, llm_replicas=1)
    ComponentDeployment.objects.filter(deployment=deployment, key="llm").update(status="STOPPED")
    answer = send(deployment.endpoint_slug, secret)
    assert answer.status_code == 503
    assert "No running replica of 'llm' serves the endpoint now" in answer.json()["detail"]
