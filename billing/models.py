import uuid

from django.conf import settings
from django.db import models

# Quantities and amounts of one minute are kept to 12 places: a storage precision fine enough that no sum of
# records a month can hold moves a cent. The one rounding to money is at invoice line level (README, Billing).
METER_DIGITS = {"max_digits": 24, "decimal_places": 12}


class PriceList(models.Model):
    """A cluster's prices from a moment on (same shape as Cluster.prices); usage before it keeps the older list."""

    cluster = models.ForeignKey("jobs.Cluster", on_delete=models.CASCADE, related_name="price_lists")
    effective_from = models.DateTimeField()
    prices = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cluster", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "effective_from"], name="one_price_list_per_moment"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster_id} from {self.effective_from:%Y-%m-%d %H:%M}"


class UsageRecord(models.Model):
    """What one job ran during one wall-clock minute: seconds, resource-minutes and their amounts, unrounded.

    After its month is closed and compacted (`CompactedMonth`), a row is what the job ran in one hour at one price
    list: `minute` is the first metered minute of that hour and price list, `seconds` up to 3,600; the sums are the
    minutes' exact sums, so every reader grouping by hour, day or month reads the same amounts."""

    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="usage_records")
    minute = models.DateTimeField()  # start of the minute (UTC, seconds zero)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey("tenancy.Project", on_delete=models.PROTECT, related_name="+")
    cluster = models.ForeignKey("jobs.Cluster", on_delete=models.PROTECT, related_name="+")
    # A deployment is referred to by id, so its usage survives its deletion (as the job's reference does).
    usecase_deployment_id = models.UUIDField(null=True, blank=True, verbose_name="use case deployment id")
    # Copied from the deployment when metered: the cost explorer groups by them without a join, and after a deletion.
    usecase = models.CharField(max_length=100, blank=True, default="", verbose_name="use case")
    template = models.CharField(max_length=100, blank=True, default="")
    seconds = models.DecimalField(max_digits=10, decimal_places=6)  # of wall time within the minute (hour), > 0
    gpu_type = models.CharField(max_length=100, blank=True, default="")
    gpu_minutes = models.DecimalField(**METER_DIGITS)
    cpu_core_minutes = models.DecimalField(**METER_DIGITS)
    memory_gib_minutes = models.DecimalField(**METER_DIGITS)
    gpu_amount = models.DecimalField(**METER_DIGITS)
    cpu_amount = models.DecimalField(**METER_DIGITS)
    memory_amount = models.DecimalField(**METER_DIGITS)
    price_list = models.ForeignKey(PriceList, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["job", "minute"]
        indexes = [models.Index(fields=["tenant", "minute"], name="usage_tenant_minute_idx")]
        constraints = [
            # Idempotence lives here: a repeated pass, or one that resumes after a killed worker, cannot add a row.
            models.UniqueConstraint(fields=["job", "minute"], name="one_usage_record_per_job_minute"),
            # 60 for a minute, 3,600 for a compacted hour.
            models.CheckConstraint(condition=models.Q(seconds__gt=0, seconds__lte=3600), name="usage_seconds_in_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.minute:%Y-%m-%d %H:%M}"


class DailyCost(models.Model):
    """The usage records of one UTC day summed per tenant, project, deployment (with its use case and template) and
    GPU type: what the cost explorer reads for whole days. Written by the metering pass in the transaction that
    inserts the records, from the records actually inserted, so it always equals the per-minute sum."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateTimeField()  # midnight UTC
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("tenancy.Project", on_delete=models.CASCADE, related_name="+")
    usecase_deployment_id = models.UUIDField(null=True, blank=True, verbose_name="use case deployment id")
    usecase = models.CharField(max_length=100, blank=True, default="", verbose_name="use case")
    template = models.CharField(max_length=100, blank=True, default="")
    gpu_type = models.CharField(max_length=100, blank=True, default="")
    amount = models.DecimalField(max_digits=30, decimal_places=12)  # gpu + cpu + memory amounts, unrounded
    gpu_minutes = models.DecimalField(max_digits=30, decimal_places=12)
    cpu_core_minutes = models.DecimalField(max_digits=30, decimal_places=12)
    memory_gib_minutes = models.DecimalField(max_digits=30, decimal_places=12)

    class Meta:
        ordering = ["day", "tenant"]
        indexes = [
            models.Index(fields=["tenant", "day"], name="daily_cost_tenant_day_idx"),
            # The explorer narrowed to a project or a deployment reads its days only.
            models.Index(fields=["project", "day"], name="daily_cost_project_day_idx"),
            models.Index(fields=["usecase_deployment_id", "day"], name="daily_cost_deployment_day_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "tenant", "project", "usecase_deployment_id", "usecase", "template", "gpu_type"],
                name="one_daily_cost_per_group",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day:%Y-%m-%d} {self.amount}"


class CostRollup(models.Model):
    """The usage records of one UTC day or month summed per tenant and value of one explorer dimension (project,
    deployment, use case, template, GPU type, tenant): a month by deployment reads a row per deployment, the steps of
    the groups shown a row per group and day, the chart's per-day totals a row per tenant and day.

    Kept by the metering pass in the statement that inserts the records, from the records actually inserted (as
    `DailyCost`), so a repeated or killed pass adds nothing twice; compaction keeps every sum, so nothing changes.
    `key` is the value as text ('' for none: usage of no deployment, no use case, no GPU)."""

    class Period(models.TextChoices):
        DAY = "day"
        MONTH = "month"

    id = models.BigAutoField(primary_key=True)
    dimension = models.CharField(max_length=16)
    key = models.CharField(max_length=100, blank=True, default="")
    period = models.CharField(max_length=5, choices=Period.choices)
    start = models.DateTimeField()  # midnight UTC of the day, or of the month's first day
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=30, decimal_places=12)  # gpu + cpu + memory amounts, unrounded
    gpu_minutes = models.DecimalField(max_digits=30, decimal_places=12)
    cpu_core_minutes = models.DecimalField(max_digits=30, decimal_places=12)
    memory_gib_minutes = models.DecimalField(max_digits=30, decimal_places=12)

    class Meta:
        ordering = ["dimension", "period", "start", "key"]
        constraints = [
            # Also the index of a page's steps: (dimension, key IN the page's, day, a range of days).
            models.UniqueConstraint(
                fields=["dimension", "key", "period", "start", "tenant"], name="one_cost_rollup_per_group"
            )
        ]
        indexes = [
            # A period's groups of one dimension (the totals), read from the index alone.
            models.Index(
                fields=["dimension", "period", "start", "tenant"],
                include=["key", "amount", "gpu_minutes", "cpu_core_minutes", "memory_gib_minutes"],
                name="cost_rollup_period_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.dimension}={self.key} {self.period} {self.start:%Y-%m-%d} {self.amount}"


class CompactedMonth(models.Model):
    """A closed month whose usage records are (being) compacted to hourly rows. Recorded before the first row moves:
    from then on the metering pass writes nothing before the month's end. `finished_at` is set once every day of the
    month is compacted; until then a repeated run resumes (compacting a day twice changes nothing)."""

    month = models.DateField(primary_key=True)  # the first day of the month (UTC)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_before = models.PositiveBigIntegerField(null=True, blank=True)  # as counted by the run that finished
    rows_after = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.rows_before} -> {self.rows_after} rows"


class MeteringState(models.Model):
    """The single row recording when the last complete metering pass started (where the next one looks back to)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_pass_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"metering state (last pass {self.last_pass_started_at})"


class Invoice(models.Model):
    """A tenant's bill for one calendar month: a draft rebuilt from metering until it is finalised, then immutable."""

    class Status(models.TextChoices):
        DRAFT = "DRAFT"
        FINAL = "FINAL"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="invoices")
    month = models.DateField()  # the first day of the month billed (UTC)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=32, null=True, blank=True, unique=True)  # set when finalised
    currency = models.CharField(max_length=3, default="USD")
    usage_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    checksum = models.CharField(max_length=64, blank=True, default="")  # sha256 of the finalised content
    computed_at = models.DateTimeField(null=True, blank=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "tenant"]
        constraints = [models.UniqueConstraint(fields=["tenant", "month"], name="one_invoice_per_tenant_month")]

    def __str__(self) -> str:
        return self.number or f"draft {self.month:%Y-%m} ({self.tenant_id})"


class InvoiceLine(models.Model):
    """One line of an invoice: usage of one resource by one deployment of a project, or a credit/adjustment."""

    class Kind(models.TextChoices):
        USAGE = "USAGE"
        ADJUSTMENT = "ADJUSTMENT"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    project = models.ForeignKey("tenancy.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    usecase_deployment_id = models.UUIDField(null=True, blank=True, verbose_name="use case deployment id")
    # Copied when the line is written, so the invoice still reads after the deployment is deleted.
    deployment_name = models.CharField(max_length=200, blank=True, default="")
    usecase = models.CharField(max_length=100, blank=True, default="", verbose_name="use case")
    template = models.CharField(max_length=100, blank=True, default="")
    resource = models.CharField(max_length=120, blank=True, default="")  # "gpu:H100-80GB", "cpu", "memory"
    unit = models.CharField(max_length=32, blank=True, default="")  # "GPU-minute", "core-minute", "GiB-minute"
    quantity = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    unrounded_amount = models.DecimalField(**METER_DIGITS, default=0)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["invoice", "kind", "project_id", "deployment_name", "resource", "id"]
        indexes = [models.Index(fields=["invoice", "kind"], name="invoice_line_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.resource or self.reason[:40]} {self.amount}"


class Budget(models.Model):
    """A monthly spending limit for one project or a whole tenant: alerts at 80% and 100%, optionally a hard cap that
    refuses new deployments and cost-raising changes once the month's spend has reached it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, related_name="budgets")
    project = models.ForeignKey(
        "tenancy.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )  # None: the whole tenant
    name = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="Per calendar month (UTC), in USD.")
    hard_cap = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="unique_budget_name"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(project__isnull=False), name="one_budget_per_project"
            ),
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(project__isnull=True), name="one_budget_per_tenant"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="budget_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class BudgetAlert(models.Model):
    """A budget's spend crossing 80% or 100% in a month: recorded once (the constraint), notified once."""

    id = models.BigAutoField(primary_key=True)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    month = models.DateField()
    threshold = models.PositiveSmallIntegerField()  # percent: 80 or 100
    spent = models.DecimalField(**METER_DIGITS)
    forecast = models.DecimalField(**METER_DIGITS)
    fired_at = models.DateTimeField()

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "month", "threshold"], name="one_budget_alert_per_threshold")
        ]

    def __str__(self) -> str:
        return f"{self.budget_id} {self.month:%Y-%m} {self.threshold}%"
