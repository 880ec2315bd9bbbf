"""The endpoint queue in `/metrics`: the length now and the counts of queued, refused, timed-out and served."""

from __future__ import annotations

import pytest

from autoscaling import endpoint_queue
from serving import services
from serving.tests.factories import running_with_key, send
from serving.tests.test_queue import stop

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not endpoint_queue.available(), reason="the request queue needs REDIS_URL"),
]


def test_metrics_show_each_endpoints_queue_length_and_counts(templates, member_user, project, cluster, client,
                                                             settings):  # fmt: skip
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    deployment, _, secret = running_with_key(user=member_user, project=project, cluster=cluster)
    services.queue_settings_set(user=member_user, deployment=deployment, max_length=2)
    stop(deployment)
    assert [send(deployment.endpoint_slug, secret).status_code for _ in range(3)] == [503, 503, 429]
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").content.decode()
    labels = f'deployment="my-rag",deployment_id="{deployment.pk}",endpoint="{deployment.endpoint_slug}"'
    assert f"ucf_endpoint_queue_length{{{labels}}} 2.0" in text
    assert f"ucf_endpoint_queue_enqueued_total{{{labels}}} 2.0" in text
    assert f"ucf_endpoint_queue_rejected_total{{{labels}}} 1.0" in text
    assert f"ucf_endpoint_queue_timed_out_total{{{labels}}} 0.0" in text
