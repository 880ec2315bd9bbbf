from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


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


class MetricRollup(models.Model):
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
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}/{self.component_key}@{self.start:%Y-%m-%d %H:%M}"
