"""The component registry: deployable parts (vector DBs, LLM servers, embedding servers, UIs, ...)."""

from __future__ import annotations

from django.db import models


class ComponentDefinition(models.Model):
    """A deployable component: how to run it (Helm chart, image or model server), its defaults and its outputs."""

    class Category(models.TextChoices):
        VECTOR_DB = "vector_db", "Vector database"
        LLM = "llm", "LLM server"
        EMBEDDING = "embedding", "Embedding server"
        RERANKER = "reranker"
        ORCHESTRATOR = "orchestrator"
        UI = "ui", "Chat UI"
        MEMORY = "memory"
        TOOL = "tool"
        AGENT = "agent"

    class DeploymentType(models.TextChoices):
        HELM = "HELM", "Helm chart"
        DOCKER = "DOCKER", "Container image"
        MODEL = "MODEL", "Model server"

    class JobType(models.TextChoices):
        SERVICE = "SERVICE"
        BATCH = "BATCH"

    id = models.SlugField(primary_key=True, max_length=100)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=50, choices=Category.choices)
    version = models.CharField(max_length=50)
    deployment_type = models.CharField(max_length=16, choices=DeploymentType.choices)
    job_type = models.CharField(max_length=16, choices=JobType.choices, default=JobType.SERVICE)
    helm_repo = models.CharField(max_length=500, blank=True, default="")
    helm_chart = models.CharField(max_length=200, blank=True, default="")
    helm_version = models.CharField(max_length=50, blank=True, default="")
    default_values = models.JSONField(default=dict, blank=True)
    image = models.CharField(max_length=500, blank=True, default="")
    image_tag = models.CharField(max_length=100, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    default_env = models.JSONField(default=dict, blank=True)
    config_env = models.JSONField(default=dict, blank=True, help_text="Env vars filled from config keys.")
    default_resources = models.JSONField(default=dict, blank=True)
    required_inputs = models.JSONField(default=list, blank=True)
    outputs = models.JSONField(default=list, blank=True)
    health_check_path = models.CharField(max_length=200, blank=True, default="")
    aliases = models.JSONField(default=list, blank=True, help_text="Other ids templates may use for it.")
    tags = models.JSONField(default=list, blank=True)
    # ",tag1,tag2," so a tag filter is a portable icontains lookup on SQLite and PostgreSQL alike.
    tags_text = models.CharField(max_length=1000, blank=True, default="", editable=False)
    is_active = models.BooleanField(default=True)
    is_system = models.BooleanField(default=True)
    source_file = models.CharField(max_length=500, blank=True, default="")
    content_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    #: The columns that make up a definition's content (the YAML keys, minus `id`).
    CONTENT_FIELDS = (
        "name",
        "description",
        "category",
        "version",
        "deployment_type",
        "job_type",
        "helm_repo",
        "helm_chart",
        "helm_version",
        "default_values",
        "image",
        "image_tag",
        "port",
        "default_env",
        "config_env",
        "default_resources",
        "required_inputs",
        "outputs",
        "health_check_path",
        "aliases",
        "tags",
    )

    class Meta:
        ordering = ["category", "id"]
        indexes = [models.Index(fields=["category"]), models.Index(fields=["deployment_type"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.version})"

    def as_definition(self) -> dict:
        """The definition as a plain dict, the shape the resolver consumes (same keys as the YAML file)."""
        return {"id": self.id, **{name: getattr(self, name) for name in self.CONTENT_FIELDS}}

    @property
    def output_names(self) -> list[str]:
        return [output["name"] for output in self.outputs]


class ComponentVersion(models.Model):
    """A definition's content at one version, kept when the definition changes, so deployments can name it."""

    definition = models.ForeignKey(ComponentDefinition, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    content = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["definition", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "version"], name="one_component_version_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.definition_id}@{self.version}"
