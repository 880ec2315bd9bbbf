"""The endpoint queues in `/metrics` (registered with observability's exposition from ServingConfig.ready): per
deployment that has a key, the requests waiting now (Redis, one pipelined round trip) and, since the endpoint's
first request, those queued, refused because the queue was full, dropped after waiting past the timeout and served
from the queue (counters summed over the per-minute traffic rows): one query and one Redis round trip a scrape."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Exists, OuterRef, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autoscaling import endpoint_queue
from deployments.models import UseCaseDeployment
from deployments.state import DeploymentStatus
from serving.models import DeploymentKey

LABELS = ["deployment_id", "deployment", "endpoint"]
COUNTERS = (  # EndpointTraffic column, metric name, help
    ("queued", "ucf_endpoint_queue_enqueued", "Requests that joined the endpoint's queue."),
    ("queue_full", "ucf_endpoint_queue_rejected", "Requests refused (429) because the endpoint's queue was full."),
    ("queue_timeout", "ucf_endpoint_queue_timed_out", "Queued requests dropped after waiting past the timeout."),
    ("dequeued", "ucf_endpoint_queue_served", "Queued requests served once a replica was free."),
)


class EndpointQueueCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        # One query: the deployments with a key, each with its traffic columns summed (no join on the keys, so
        # the sums are not multiplied by them).
        deployments = list(
            UseCaseDeployment.objects.filter(Exists(DeploymentKey.objects.filter(deployment=OuterRef("pk"))))
            .exclude(status=DeploymentStatus.DELETED)
            .order_by("pk")
            .values("pk", "name", "endpoint_slug")
            .annotate(**{column: Sum(f"endpoint_traffic__{column}") for column, *_ in COUNTERS})
        )
        ids = [row["pk"] for row in deployments]
        waiting = endpoint_queue.lengths(deployment_ids=ids)
        length = GaugeMetricFamily(
            "ucf_endpoint_queue_length", "Requests waiting in the endpoint's queue now.", labels=LABELS
        )
        counters = {column: CounterMetricFamily(name, text, labels=LABELS) for column, name, text in COUNTERS}
        for row in deployments:
            labels = [str(row["pk"]), row["name"], row["endpoint_slug"]]
            length.add_metric(labels, waiting.get(row["pk"], 0))
            for column, family in counters.items():
                family.add_metric(labels, float(row[column] or 0))
        yield length
        yield from counters.values()
