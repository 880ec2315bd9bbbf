"""Use case templates (system ones from YAML, per-tenant user ones from the API) and their revisions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class UseCaseTemplate(models.Model):
    """A stack of components with user-facing parameters; the resolver turns it into a deployment plan.

    Identity: `slug` is the template's id in its YAML file / body. System templates (tenant NULL) have a
    globally unique slug, which is also their API id; user templates have a slug unique inside their tenant
    and their UUID `pk` as API id, so two tenants' templates never clash.
    """

    class Category(models.TextChoices):
        RAG = "rag", "RAG"
        CHATBOT = "chatbot"
        AGENT = "agent"

    class Complexity(models.TextChoices):
        SIMPLE = "simple"
        INTERMEDIATE = "intermediate"
        ADVANCED = "advanced"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=100)
    tenant = models.ForeignKey(
        "tenancy.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="templates"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=50, choices=Category.choices)
    version = models.CharField(max_length=50)
    complexity = models.CharField(max_length=50, choices=Complexity.choices, default=Complexity.SIMPLE)
    tags = models.JSONField(default=list, blank=True)
    tags_text = models.CharField(max_length=1000, blank=True, default="", editable=False)
    parameters = models.JSONField(default=list)
    components = models.JSONField(default=list)
    routing = models.JSONField(null=True, blank=True)
    observability = models.JSONField(null=True, blank=True)
    max_retries = models.PositiveSmallIntegerField(default=2)
    is_active = models.BooleanField(default=True)
    is_system = models.BooleanField(default=False)
    source_file = models.CharField(max_length=500, blank=True, default="")
    forked_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks")
    forked_from_version = models.CharField(max_length=50, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    #: Where a template came from and when (read-only in the API and the admin).
    PROVENANCE_FIELDS = ("source_file", "forked_from", "forked_from_version", "created_by", "created_at", "updated_at")
    #: Columns that make up a template's content (the YAML keys; `id` is the slug).
    CONTENT_FIELDS = (
        "name",
        "description",
        "category",
        "version",
        "complexity",
        "tags",
        "parameters",
        "components",
        "routing",
        "observability",
        "max_retries",
    )

    class Meta:
        ordering = ["-is_system", "category", "slug"]
        indexes = [
            models.Index(fields=["category"]),
            models.Index(fields=["tenant"]),
            models.Index(fields=["is_system"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(tenant__isnull=True), name="unique_system_template_slug"
            ),
            models.UniqueConstraint(
                fields=["tenant", "slug"],
                condition=Q(tenant__isnull=False, deleted_at__isnull=True),
                name="unique_template_slug_per_tenant",
            ),
            models.CheckConstraint(
                condition=Q(is_system=True, tenant__isnull=True) | Q(is_system=False, tenant__isnull=False),
                name="system_templates_have_no_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.api_id} ({self.version})"

    @property
    def api_id(self) -> str:
        """The id used in URLs and bodies: the slug for system templates, the UUID for user templates."""
        return self.slug if self.is_system else str(self.pk)

    def as_content(self) -> dict:
        """The template's content, the same shape as its YAML file (what the resolver consumes)."""
        content = {"id": self.slug}
        for name in self.CONTENT_FIELDS:
            content[name] = getattr(self, name)
        return content


class TemplateRevision(models.Model):
    """A template's full content at one point: who changed it, when, what changed. Never edited or deleted."""

    class Source(models.TextChoices):
        SEED = "seed"
        API = "api"
        FORK = "fork"
        RESTORE = "restore"
        ADMIN = "admin"

    template = models.ForeignKey(UseCaseTemplate, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    version = models.CharField(max_length=50)
    content = models.JSONField()
    changed_fields = models.JSONField(default=list)
    source = models.CharField(max_length=16, choices=Source.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-revision"]
        indexes = [models.Index(fields=["template", "version"])]
        constraints = [models.UniqueConstraint(fields=["template", "revision"], name="unique_template_revision")]

    def __str__(self) -> str:
        return f"{self.template_id} r{self.revision} ({self.version})"
