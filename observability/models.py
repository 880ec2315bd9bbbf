import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.crypto import EncryptedJSONField


class DeploymentMonitoring(models.Model):
    """How a deployment is watched: its SLO objective and (on the simulated driver) the load profile it receives."""

    class LoadKind(models.TextChoices):
        CONSTANT = "constant"
        DIURNAL = "diurnal"
        BURSTS = "bursts"

    deployment = models.OneToOneField(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, primary_key=True, related_name="monitoring"
    )
    objective = models.DecimalField(
        max_digits=6,
        decimal_places=5,
        default=Decimal("0.99"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("0.99999"))],
        help_text="Share of requests that must meet each latency target (the error budget is 1 - objective).",
    )
    load_kind = models.CharField(max_length=16, choices=LoadKind.choices, default=LoadKind.CONSTANT)
    requests_per_second = models.FloatField(null=True, blank=True, help_text="None: from the load sized for.")
    peak_hour = models.PositiveSmallIntegerField(default=14, validators=[MaxValueValidator(23)])
    burst_factor = models.FloatField(default=3.0)
    seed = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"monitoring of {self.deployment_id}"


class RollupValues(models.Model):
    """What a rollup holds over its window: counts, mean gauges, the latency sketches and their stored quantiles."""

    requests = models.FloatField(default=0)
    errors = models.FloatField(default=0)
    prompt_tokens = models.FloatField(default=0)
    output_tokens = models.FloatField(default=0)
    running = models.FloatField(default=0)
    waiting = models.FloatField(default=0)
    gpu_utilisation = models.FloatField(default=0)
    kv_cache_usage = models.FloatField(default=0)
    cpu_utilisation = models.FloatField(default=0)
    replicas = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    ttft = models.JSONField(null=True, blank=True)
    itl = models.JSONField(null=True, blank=True)
    e2e = models.JSONField(null=True, blank=True)
    # The row's own sketch read at the quantiles charts and rules ask for (observability.sketch.STORED_QUANTILES),
    # taken when the row is written: a range query whose step holds one row reads these plain columns instead of
    # decoding a sketch per point. Null when the sketch is.
    ttft_p50 = models.FloatField(null=True, blank=True)
    ttft_p90 = models.FloatField(null=True, blank=True)
    ttft_p95 = models.FloatField(null=True, blank=True)
    ttft_p99 = models.FloatField(null=True, blank=True)
    itl_p50 = models.FloatField(null=True, blank=True)
    itl_p90 = models.FloatField(null=True, blank=True)
    itl_p95 = models.FloatField(null=True, blank=True)
    itl_p99 = models.FloatField(null=True, blank=True)
    e2e_p50 = models.FloatField(null=True, blank=True)
    e2e_p90 = models.FloatField(null=True, blank=True)
    e2e_p95 = models.FloatField(null=True, blank=True)
    e2e_p99 = models.FloatField(null=True, blank=True)

    class Meta:
        abstract = True


# Every column a per-row range query over one component may read (observability.query._sql_steps): kept in its
# covering index (a test checks the list against the query).
COMPONENT_SERIES_COLUMNS = (
    "resolution", "is_llm", "cost", "requests", "errors", "prompt_tokens", "output_tokens", "running", "waiting",
    "replicas", "gpu_utilisation", "kv_cache_usage", "cpu_utilisation",
    "ttft_p50", "ttft_p90", "ttft_p95", "ttft_p99", "itl_p50", "itl_p90", "itl_p95", "itl_p99",
    "e2e_p50", "e2e_p90", "e2e_p95", "e2e_p99",
)  # fmt: skip


class MetricRollup(RollupValues):
    """One component of one deployment over one minute (or, past 7 days, one hour): counts, mean gauges, sketches.

    Latencies are DDSketches (observability.sketch) of the successful requests, so percentiles merge exactly to 1%
    over any window, replicas and components; `*_good` count the requests within the use case's target when the
    window was collected, so a 30-day attainment is a SUM, not a merge of thousands of sketches.
    """

    class Resolution(models.IntegerChoices):
        MINUTE = 60
        HOUR = 3600

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="metric_rollups"
    )
    component_key = models.CharField(max_length=100)
    is_llm = models.BooleanField(default=False)
    resolution = models.PositiveIntegerField(choices=Resolution.choices, default=Resolution.MINUTE)
    start = models.DateTimeField()
    ttft_good = models.FloatField(null=True, blank=True)
    itl_good = models.FloatField(null=True, blank=True)
    e2e_good = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "start"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "component_key", "resolution", "start"], name="one_rollup_per_window"
            )
        ]
        indexes = [
            models.Index(fields=["deployment", "resolution", "start"]),
            models.Index(fields=["resolution", "start"]),
            # The SLO and cost sums read only these columns: an index-only scan skips the wide sketch rows.
            models.Index(
                fields=["deployment", "start"],
                include=["is_llm", "requests", "errors", "ttft_good", "itl_good", "e2e_good", "cost"],
                name="rollup_sums_covering",
            ),
            # A range query over one component at a 1-minute step reads only these columns (observability.query,
            # per row): an index-only scan of ~50 pages for a day, not a heap page per ~2 kB row (collection
            # interleaves every deployment's rows). Not in the unique window's index: SQLite would drop a unique
            # constraint with non-key columns.
            models.Index(
                fields=["deployment", "component_key", "start"],
                include=COMPONENT_SERIES_COLUMNS,
                name="component_series",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}/{self.component_key}@{self.start:%Y-%m-%d %H:%M}"


# Every column a per-row range query over the whole deployment may read (observability.query._sql_steps): kept
# in the deployment rows' covering index (a test checks the list against the query).
DEPLOYMENT_SERIES_COLUMNS = (
    "resolution", "llm_rows", "service_rows", "cost", "requests", "errors", "prompt_tokens", "output_tokens",
    "running", "waiting", "replicas", "gpu_utilisation", "kv_cache_usage", "cpu_utilisation",
    "ttft_p50", "ttft_p90", "ttft_p95", "ttft_p99", "itl_p50", "itl_p90", "itl_p95", "itl_p99",
    "e2e_p50", "e2e_p90", "e2e_p95", "e2e_p99",
)  # fmt: skip


class DeploymentRollup(RollupValues):
    """One deployment over one minute (or hour): its components' rollups of that window added up, their sketches
    merged. Written with them at collection (and folded with them), so a range query over the whole deployment reads
    one row per window instead of merging every component's sketch per point; answers as that merge does.

    Counts, summed gauges (running, waiting, replicas) and cost are the components' sums; the share gauges are
    sums too, over `llm_rows` (GPU and KV-cache use) resp. `service_rows` (CPU), so means over any step stay exact.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique window and the covering index below both lead with the deployment.
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    resolution = models.PositiveIntegerField(choices=MetricRollup.Resolution.choices)
    start = models.DateTimeField()
    llm_rows = models.PositiveSmallIntegerField(default=0)
    service_rows = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["deployment_id", "start"]  # by the column: no join to the deployment for its ordering
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "start", "resolution"], name="one_deployment_rollup_per_window"
            )
        ]
        indexes = [
            models.Index(fields=["resolution", "start"]),
            # A range query at a 1-minute step reads only these columns (observability.query, per row): an
            # index-only scan reads the ~50 index pages of a day, not a heap page per row of ~3 kB rows, which
            # collection interleaves with every other deployment's. (The sketches are left out: merges read them.)
            models.Index(fields=["deployment", "start"], include=DEPLOYMENT_SERIES_COLUMNS, name="deployment_series"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}@{self.start:%Y-%m-%d %H:%M}"


class SloHour(models.Model):
    """One deployment's LLM requests over one hour: how many, how many failed, how many within each latency target;
    and what every component of it served that hour (tokens, requests), which the daily token rows add up.

    Recomputed from the rollups of that hour at each collection, so a 30-day attainment is a SUM over at most 720
    narrow rows (not over 10,000 wide rollups); shorter windows read the minute rollups. An hour of a deployment
    without LLM components has a row too, with 0 LLM requests and no good counts (what no row meant).
    """

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey("deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    requests = models.FloatField(default=0)
    errors = models.FloatField(default=0)
    ttft_good = models.FloatField(null=True, blank=True)
    itl_good = models.FloatField(null=True, blank=True)
    e2e_good = models.FloatField(null=True, blank=True)
    # Every component's (LLM or service), as the cost explorer counts them: prompt + output tokens, requests.
    tokens = models.FloatField(default=0)
    all_requests = models.FloatField(default=0)

    class Meta:
        ordering = ["deployment", "hour"]
        constraints = [models.UniqueConstraint(fields=["deployment", "hour"], name="one_slo_row_per_hour")]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.deployment_id}@{self.hour:%Y-%m-%d %H}"


class TokenDay(models.Model):
    """What one deployment served over one UTC day: prompt + output tokens and requests of every component.

    The cost explorer's tokens per group over whole days: a month of 1,000 deployments is 30,000 of these rows, not
    the ~10 million minute rollups. Recomputed from the day's SloHour rows at each collection (idempotent, like them).
    Not purged with the metrics (90 days): kept, like the usage records, as long as the deployment is, so an old
    month's cost per million tokens stays answerable.
    """

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey("deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="+")
    day = models.DateTimeField(help_text="Midnight UTC.")
    tokens = models.FloatField(default=0)
    requests = models.FloatField(default=0)

    class Meta:
        ordering = ["deployment", "day"]
        constraints = [models.UniqueConstraint(fields=["deployment", "day"], name="one_token_row_per_day")]
        indexes = [models.Index(fields=["day"], include=["deployment", "tokens", "requests"], name="token_day_sums")]

    def __str__(self) -> str:
        return f"{self.deployment_id}@{self.day:%Y-%m-%d}"


class AlertRule(models.Model):
    """A condition on one deployment that fires an alert: SLO burn rate over a window pair, a component not
    RUNNING for N minutes, the deployment DEGRADED, its cost over a budget, or a component's latency percentile
    over a threshold."""

    class Kind(models.TextChoices):
        BURN_RATE = "burn_rate"
        NOT_RUNNING = "not_running"
        DEGRADED = "degraded"
        COST_OVER_BUDGET = "cost_over_budget"
        LATENCY = "latency"

    class Severity(models.TextChoices):
        PAGE = "page"
        TICKET = "ticket"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deployment = models.ForeignKey(
        "deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="alert_rules"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.PAGE)
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="burn_rate: {target, long_window, short_window, factor}; not_running: {minutes}; "
        "cost_over_budget: {budget, window} (dollars over 1h/6h/30d); "
        "latency: {component, quantile, threshold_s, window} (end-to-end latency over 5m/30m/1h).",
    )
    source = models.CharField(max_length=16, default="api", help_text="api, template or default.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment", "name"]
        constraints = [models.UniqueConstraint(fields=["deployment", "name"], name="unique_alert_rule_name")]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """One firing of a rule, from when it fired until it resolved, with the value and threshold that fired it."""

    class State(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    id = models.BigAutoField(primary_key=True)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    deployment = models.ForeignKey("deployments.UseCaseDeployment", on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(max_length=10, choices=State.choices, default=State.FIRING)
    value = models.FloatField(null=True)
    threshold = models.FloatField(null=True)
    message = models.TextField(blank=True, default="")
    fired_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    silenced_until = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule"], condition=Q(state="firing"), name="one_firing_alert_per_rule")
        ]
        indexes = [models.Index(fields=["deployment", "state"]), models.Index(fields=["state", "fired_at"])]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.state}"


class NotificationChannel(models.Model):
    """Where a tenant's alerts go: a webhook (generic JSON or Slack-compatible) or e-mail addresses."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        SLACK = "slack"
        EMAIL = "email"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, related_name="notification_channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Webhook URLs carry tokens (Slack's do): encrypted at rest.
    target = EncryptedJSONField(default=dict, help_text='{"url": ...} or {"emails": [...]}.')
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_channel_name")]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One notification of one alert event (or of another app's event: a budget's) to one channel, retried with
    back-off until sent or failed."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, help_text="firing or resolved; budget_80 / budget_100 for a budget")
    # A notification without an alert (notification_send) carries its own subject and JSON body.
    subject = models.CharField(max_length=200, blank=True, default="")
    body = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(alert__isnull=False) | ~Q(subject=""), name="delivery_of_an_alert_or_with_a_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} -> {self.channel_id} ({self.status})"
