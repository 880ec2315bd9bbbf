from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from templates_app.models import TemplateRevision, UseCaseTemplate
from tenancy.api.viewsets import FixedAfterCreateMixin, ScopedPrimaryKeyRelatedField
from tenancy.models import Tenant


class TemplateSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="api_id", read_only=True, help_text="Slug for system templates, UUID else.")
    uuid = serializers.UUIDField(source="pk", read_only=True)
    tenant_id = serializers.UUIDField(read_only=True, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    parameters = serializers.JSONField(read_only=True)
    components = serializers.JSONField(read_only=True)
    routing = serializers.JSONField(read_only=True, allow_null=True)
    observability = serializers.JSONField(read_only=True, allow_null=True)
    forked_from = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = UseCaseTemplate
        fields = [
            "id",
            "uuid",
            "slug",
            "tenant_id",
            *UseCaseTemplate.CONTENT_FIELDS,
            "is_active",
            "is_system",
            *UseCaseTemplate.PROVENANCE_FIELDS,
        ]
        read_only_fields = fields

    def get_forked_from(self, template) -> str | None:
        return template.forked_from.api_id if template.forked_from_id else None


class TemplateWriteSerializer(FixedAfterCreateMixin, StrictFieldsMixin, serializers.Serializer):
    """A user template's content: the same keys as a YAML system template (`slug` is its `id` there)."""

    tenant_id = ScopedPrimaryKeyRelatedField(source="tenant", queryset=Tenant.objects.all(), tenant_field="id")
    slug = serializers.SlugField(max_length=100, required=False)
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=UseCaseTemplate.Category.choices)
    version = serializers.CharField(max_length=50, required=False, default="1.0.0")
    complexity = serializers.ChoiceField(choices=UseCaseTemplate.Complexity.choices, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    parameters = serializers.JSONField(required=False, default=list)
    components = serializers.JSONField()
    routing = serializers.JSONField(required=False, allow_null=True)
    observability = serializers.JSONField(required=False, allow_null=True)
    max_retries = serializers.IntegerField(required=False, min_value=0, max_value=10)

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["version"].default = serializers.empty
        return fields


class TemplateForkSerializer(StrictFieldsMixin, serializers.Serializer):
    tenant_id = ScopedPrimaryKeyRelatedField(
        source="tenant",
        queryset=Tenant.objects.all(),
        tenant_field="id",
        required=False,
        help_text="Needed when you can write in more than one tenant.",
    )
    slug = serializers.SlugField(max_length=100, required=False)
    name = serializers.CharField(max_length=255, required=False)


class ResolveRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    parameters = serializers.DictField(required=False, default=dict)


class PlannedComponentSerializer(serializers.Serializer):
    id = serializers.CharField()
    component_ref = serializers.CharField()
    component_id = serializers.CharField()
    component_version = serializers.CharField()
    depends_on = serializers.ListField(child=serializers.CharField())
    job_type = serializers.CharField()
    deployment_type = serializers.CharField()
    config = serializers.DictField()
    env = serializers.DictField(child=serializers.CharField())
    resources = serializers.DictField()
    spec = serializers.DictField()
    outputs = serializers.ListField(child=serializers.CharField())
    output_specs = serializers.DictField()
    model_id = serializers.CharField(allow_null=True)
    output_refs = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    optimize_with_budsim = serializers.BooleanField()
    health_check_path = serializers.CharField()


class PlanSerializer(serializers.Serializer):
    template_id = serializers.CharField()
    version = serializers.CharField()
    parameters = serializers.DictField(help_text="Validated, defaults applied; secret values masked.")
    components = PlannedComponentSerializer(many=True, help_text="In start order.")
    waves = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    totals = serializers.DictField()
    max_retries = serializers.IntegerField()


class TemplateRevisionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    content = serializers.JSONField(read_only=True)
    changed_fields = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = TemplateRevision
        fields = ["revision", "version", "source", "changed_fields", "created_by", "created_at", "content"]
        read_only_fields = fields
