from django.conf import settings
from django.db import models

from usecases import profiles

RANGE_FIELDS = ("input_tokens", "output_tokens", "batch_size", "beam_size", "ttft", "e2e", "inter_token")
INTEGER_RANGES = ("input_tokens", "output_tokens", "batch_size", "beam_size")
SECONDS_RANGES = ("ttft", "e2e", "inter_token")
REQUIRED_RANGES = ("input_tokens", "output_tokens")
NUMERIC_FIELDS = tuple(f"{name}_{end}" for name in RANGE_FIELDS for end in ("min", "max"))
# The largest value each range accepts (usecases.validation): far beyond any real deployment, well inside the
# PositiveIntegerField columns (2**31 - 1), so an absurd number is a 400 on its field, never a database error.
SECONDS_MAX = 7 * 24 * 3600.0  # a week; even overnight batch SLOs are hours
RANGE_MAXIMUMS: dict[str, int | float] = {
    "input_tokens": 100_000_000,  # ten times the longest context window offered today
    "output_tokens": 100_000_000,
    "batch_size": 1_000_000,
    "beam_size": 1_000,
    "ttft": SECONDS_MAX,
    "e2e": SECONDS_MAX,
    "inter_token": SECONDS_MAX,
}


class UseCase(models.Model):
    """An AI/ML use case and what it needs from an LLM deployment: token ranges, batch/beam sizes, latency SLOs.

    Shared by all tenants. Soft-deleted with `is_active`; every create and update writes a UseCaseVersion.
    """

    unique_id = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    industry = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    input_tokens_min = models.PositiveIntegerField()
    input_tokens_max = models.PositiveIntegerField()
    output_tokens_min = models.PositiveIntegerField()
    output_tokens_max = models.PositiveIntegerField()
    batch_size_min = models.PositiveIntegerField(null=True, blank=True)
    batch_size_max = models.PositiveIntegerField(null=True, blank=True)
    beam_size_min = models.PositiveIntegerField(null=True, blank=True)
    beam_size_max = models.PositiveIntegerField(null=True, blank=True)
    ttft_min = models.FloatField(null=True, blank=True, help_text="Time to first token, seconds.")
    ttft_max = models.FloatField(null=True, blank=True, help_text="Time to first token, seconds.")
    e2e_min = models.FloatField(null=True, blank=True, help_text="End-to-end latency, seconds.")
    e2e_max = models.FloatField(null=True, blank=True, help_text="End-to-end latency, seconds.")
    inter_token_min = models.FloatField(null=True, blank=True, help_text="Inter-token latency, seconds.")
    inter_token_max = models.FloatField(null=True, blank=True, help_text="Inter-token latency, seconds.")
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1, help_text="Number of the latest version (UseCaseVersion).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "unique_id"]
        indexes = [
            models.Index(fields=["is_active", "industry", "name"], name="usecase_active_industry"),
            models.Index(fields=["is_active", "name"], name="usecase_active_name"),
            models.Index(fields=["input_tokens_min"], name="usecase_in_min"),
            models.Index(fields=["input_tokens_max"], name="usecase_in_max"),
            models.Index(fields=["output_tokens_min"], name="usecase_out_min"),
            models.Index(fields=["output_tokens_max"], name="usecase_out_max"),
            models.Index(fields=["ttft_min"], name="usecase_ttft_min"),
            models.Index(fields=["e2e_min"], name="usecase_e2e_min"),
            models.Index(fields=["e2e_max"], name="usecase_e2e_max"),
            # Latency profile with an input-token bound (correlated columns the planner takes as independent): one
            # range scan, and an index-only bounded count, where a BitmapAnd of the two indexes or a sequential scan
            # read the rows.
            models.Index(
                fields=["e2e_max", "input_tokens_max"], condition=models.Q(is_active=True), name="usecase_active_e2e_in"
            ),
            models.Index(fields=["inter_token_min"], name="usecase_itl_min"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(input_tokens_min__lte=models.F("input_tokens_max")), name="usecase_input_range"
            ),
            models.CheckConstraint(
                condition=models.Q(output_tokens_min__lte=models.F("output_tokens_max")), name="usecase_output_range"
            ),
            # Every optional range too: min <= max whenever both ends are given.
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{name}_min__isnull": True})
                    | models.Q(**{f"{name}_max__isnull": True})
                    | models.Q(**{f"{name}_min__lte": models.F(f"{name}_max")}),
                    name=f"usecase_{name}_range",
                )
                for name in RANGE_FIELDS
                if name not in REQUIRED_RANGES
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.unique_id})"

    @property
    def latency_profile(self) -> str:
        return profiles.latency_profile(self.e2e_max)

    @property
    def input_length_profile(self) -> str:
        return profiles.input_length_profile(self.input_tokens_max)

    @property
    def tag_names(self) -> list[str]:
        """Sorted tag names; uses prefetched tags when present."""
        return sorted(tag.name for tag in self.tags.all())


class UseCaseTag(models.Model):
    """One tag on one use case (many-to-many tagging: a tag is a name shared across use cases)."""

    usecase = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="tags", verbose_name="use case")
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["usecase", "name"], name="one_tag_per_usecase")]
        indexes = [models.Index(fields=["name", "usecase"], name="usecasetag_name")]

    def __str__(self) -> str:
        return self.name


class UseCaseVersion(models.Model):
    """A full snapshot of a use case (import/export format) written on every create, update and restore."""

    class Kind(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        RESTORED = "restored"
        IMPORTED = "imported"

    usecase = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="versions", verbose_name="use case")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    snapshot = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["usecase", "-version"]
        constraints = [models.UniqueConstraint(fields=["usecase", "version"], name="one_usecase_version_number")]

    def __str__(self) -> str:
        return f"{self.usecase_id} v{self.version}"


class UseCaseCache(models.Model):
    """A computed value for a use case (e.g. hardware recommendations) with a TTL; dropped when it changes."""

    usecase = models.ForeignKey(
        UseCase, on_delete=models.CASCADE, related_name="cached_values", verbose_name="use case"
    )
    key = models.CharField(max_length=200)
    value = models.JSONField()
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["usecase", "key"], name="one_cached_value_per_key")]

    def __str__(self) -> str:
        return f"{self.usecase_id}:{self.key}"
