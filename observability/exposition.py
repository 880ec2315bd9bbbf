"""The control plane's Prometheus exposition: a custom collector (prometheus-client) that reads the database at
scrape time in a fixed number of queries, whatever the number of deployments.

Control plane: deployments and jobs by status, notification deliveries by status and channel kind, firing alerts by
severity, reconcile passes and their duration (counted across processes in the cache, core.runtime_metrics), Celery
queue lengths. Per watched deployment: SLO objective, attainment per target and window, burn rate, error budget
left, cost over 1 h / 30 d and the current hourly rate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from core.runtime_metrics import OUTCOMES, reconcile_pass_counts
from deployments.models import UseCaseDeployment
from jobs.models import Job
from observability.alerts import WATCHED
from observability.models import Alert, Delivery
from observability.selectors import BUDGET_WINDOW, DEFAULT_OBJECTIVE, attainment_windows, cost_windows
from observability.workload import targets_of
from usecases.models import UseCase

logger = logging.getLogger(__name__)

# Collectors of the apps above this one (registered from their AppConfig.ready, so the import points down): each
# a no-argument factory whose collector `/metrics` reads beside this one, e.g. serving's endpoint queues.
EXTRA_COLLECTORS: list[Callable[[], Collector]] = []


def register_collector(factory: Callable[[], Collector]) -> None:
    if factory not in EXTRA_COLLECTORS:
        EXTRA_COLLECTORS.append(factory)


DEPLOYMENT_LABELS = ["deployment_id", "deployment", "tenant", "usecase_id"]
EXPORTED_WINDOWS = ("5m", "1h", "30d")


class ControlPlaneCollector(Collector):
    """Everything `/metrics` shows, read when Prometheus scrapes (no state kept between scrapes)."""

    def __init__(self, *, now: datetime | None = None, queues: list[str] | None = None):
        self.now = now
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        yield from self._by_status()
        yield from self._reconcile_passes()
        yield self._queues()
        yield from self._deployments(self.now or timezone.now())

    def _by_status(self) -> Iterator[Metric]:
        deployments = GaugeMetricFamily("ucf_deployments", "Deployments by status.", labels=["status"])
        for status, n in UseCaseDeployment.objects.order_by().values_list("status").annotate(n=Count("pk")):
            deployments.add_metric([status], n)
        yield deployments
        jobs = GaugeMetricFamily("ucf_jobs", "Jobs by status.", labels=["status"])
        for status, n in Job.objects.order_by().values_list("status").annotate(n=Count("pk")):
            jobs.add_metric([status], n)
        yield jobs
        deliveries = GaugeMetricFamily(
            "ucf_notification_deliveries",
            "Alert notifications by delivery status (pending, sent, failed) and channel kind.",
            labels=["status", "channel_kind"],
        )
        rows = Delivery.objects.order_by().values_list("status", "channel__kind").annotate(n=Count("pk"))
        for status, kind, n in rows:
            deliveries.add_metric([status, kind], n)
        yield deliveries
        firing = GaugeMetricFamily("ucf_alerts_firing", "Alerts firing now, by severity.", labels=["severity"])
        rows = Alert.objects.filter(state=Alert.State.FIRING).order_by().values_list("rule__severity")
        for severity, n in rows.annotate(n=Count("pk")):
            firing.add_metric([severity], n)
        yield firing

    def _reconcile_passes(self) -> Iterator[Metric]:
        counts = reconcile_pass_counts()
        passes = CounterMetricFamily(
            "ucf_reconcile_passes", "Reconcile passes run, by outcome (done, skipped, error).", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            passes.add_metric([outcome], counts["passes"][outcome])
        yield passes
        yield HistogramMetricFamily(
            "ucf_reconcile_pass_duration_seconds",
            "How long reconcile passes took.",
            buckets=counts["buckets"],
            sum_value=counts["sum"],
        )

    def _queues(self) -> Metric:
        family = GaugeMetricFamily("ucf_celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
        queues = self.queues if self.queues is not None else settings.METRICS_CELERY_QUEUES
        if not queues:
            return family
        try:
            with current_app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
                channel = connection.default_channel
                for queue in queues:
                    try:
                        family.add_metric([queue], channel.queue_declare(queue=queue, passive=True).message_count)
                    except connection.channel_errors:  # never declared: nothing was ever sent to it
                        family.add_metric([queue], 0)
        except Exception:  # the broker being down must not fail the rest of the scrape
            logger.warning("could not read the Celery queue lengths", exc_info=True)
        return family

    def _deployments(self, now: datetime) -> Iterator[Metric]:
        deployments = list(
            UseCaseDeployment.objects.filter(status__in=WATCHED)
            .order_by("pk")
            .values("pk", "name", "tenant__name", "usecase_id", "monitoring__objective")
        )
        ids = [d["pk"] for d in deployments]
        usecase_ids = {d["usecase_id"] for d in deployments if d["usecase_id"]}
        usecases = {u.unique_id: u for u in UseCase.objects.filter(unique_id__in=usecase_ids)} if usecase_ids else {}
        windows = attainment_windows(deployment_ids=ids, now=now) if ids else {}
        costs = cost_windows(deployment_ids=ids, now=now) if ids else {}
        rates = dict(
            Job.objects.filter(usecase_deployment_id__in=ids, status=Job.Status.RUNNING)
            .order_by()
            .values_list("usecase_deployment_id")
            .annotate(rate=Sum("hourly_rate"))
        ) if ids else {}  # fmt: skip
        objective = _gauge("ucf_deployment_slo_objective_ratio", "Share of requests that must meet each target.")
        threshold = _gauge("ucf_deployment_slo_threshold_seconds", "The use case's latency target.", "target")
        attainment = _gauge(
            "ucf_deployment_slo_attainment_ratio",
            "Share of requests within the target over the window (failed requests count as misses).",
            "target",
            "window",
        )
        burn = _gauge(
            "ucf_deployment_slo_burn_rate",
            "How fast the error budget burns over the window (1 = exactly on budget).",
            "target",
            "window",
        )
        budget = _gauge(
            "ucf_deployment_error_budget_remaining_ratio",
            "Share of the 30-day error budget left (negative: overspent).",
            "target",
        )
        requests = _gauge("ucf_deployment_requests_per_second", "Requests per second over the last 5 minutes.")
        cost = _gauge("ucf_deployment_cost_dollars", "What the deployment cost over the window.", "window")
        hourly = _gauge("ucf_deployment_hourly_rate_dollars", "What the running jobs cost per hour now.")
        for row in deployments:
            labels = [str(row["pk"]), row["name"], row["tenant__name"], row["usecase_id"] or ""]
            wanted = float(row["monitoring__objective"] or DEFAULT_OBJECTIVE)
            objective.add_metric(labels, wanted)
            hourly.add_metric(labels, float(rates.get(row["pk"]) or 0))
            for name, spent in costs.get(row["pk"], {}).items():
                cost.add_metric([*labels, name], float(spent))
            seen = windows.get(row["pk"], {})
            if "5m" in seen:
                requests.add_metric(labels, seen["5m"].requests / 300)
            for target, seconds in targets_of(usecases.get(row["usecase_id"])).items():
                threshold.add_metric([*labels, target], seconds)
                for name in EXPORTED_WINDOWS:
                    share = seen[name].attainment(target) if name in seen else None
                    if share is None:
                        continue
                    attainment.add_metric([*labels, target, name], share)
                    burn.add_metric([*labels, target, name], (1 - share) / (1 - wanted))
                    if name == BUDGET_WINDOW:
                        budget.add_metric([*labels, target], 1 - (1 - share) / (1 - wanted))
        yield from (objective, threshold, attainment, burn, budget, requests, cost, hourly)


def _gauge(name: str, documentation: str, *extra: str) -> GaugeMetricFamily:
    """A per-deployment gauge: the deployment's labels, then `extra`."""
    return GaugeMetricFamily(name, documentation, labels=[*DEPLOYMENT_LABELS, *extra])
