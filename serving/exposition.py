"""The endpoint queues in `/metrics` (registered with observability's exposition from ServingConfig.ready): per
deployment that has a key, the requests waiting now (Redis, one pipelined round trip) and, since the endpoint's
first request, those queued, refused because the queue was full, dropped after waiting past the timeout and served
from the queue (counters, one aggregate query over the per-minute traffic rows)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autoscaling import endpoint_queue
from deployments.models import UseCaseDeployment
from deployments.state import DeploymentStatus
from serving.models import EndpointTraffic

LABELS = ["deployment_id", "deployment", "endpoint"]
COUNTERS = (  # EndpointTraffic column, metric name, help
    ("queued", "ucf_endpoint_queue_enqueued", "Requests that joined the endpoint's queue."),
    ("queue_full", "ucf_endpoint_queue_rejected", "Requests refused (429) because the endpoint's queue was full."),
    ("queue_timeout", "ucf_endpoint_queue_timed_out", "Queued requests dropped after waiting past the timeout."),
    ("dequeued", "ucf_endpoint_queue_served", "Queued requests served once a replica was free."),
)


class EndpointQueueCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        deployments = list(
            UseCaseDeployment.objects.filter(serving_keys__isnull=False)
            .exclude(status=DeploymentStatus.DELETED)
            .distinct()
            .order_by("pk")
            .values_list("pk", "name", "endpoint_slug")
        )
        ids = [pk for pk, *_ in deployments]
        totals = {
            row["deployment_id"]: row
            for row in EndpointTraffic.objects.filter(deployment_id__in=ids)
            .order_by()
            .values("deployment_id")
            .annotate(**{column: Sum(column) for column, *_ in COUNTERS})
        } if ids else {}  # fmt: skip
        waiting = endpoint_queue.lengths(deployment_ids=ids)
        length = GaugeMetricFamily(
            "ucf_endpoint_queue_length", "Requests waiting in the endpoint's queue now.", labels=LABELS
        )
        counters = {column: CounterMetricFamily(name, text, labels=LABELS) for column, name, text in COUNTERS}
        for pk, name, slug in deployments:
            labels = [str(pk), name, slug]
            length.add_metric(labels, waiting.get(pk, 0))
            for column, family in counters.items():
                family.add_metric(labels, float((totals.get(pk) or {}).get(column) or 0))
        yield length
        yield from counters.values()
