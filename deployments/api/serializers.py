from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import MoneyField, StrictFieldsMixin
from core.money import money_text
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from deployments.selectors import (
    COMPONENT_ROLES,
    component_role,
    components_in_order,
    deployment_endpoint_url,
    deployment_hourly_cost,
    deployment_upgrade_available,
    deployments_cost_so_far,
)
from deployments.services.identity import NAME_MAX_LENGTH, NAME_RE, NAME_RULE
from deployments.validation import ScaleRequestField
from jobs.models import Cluster, ClusterSet
from sizing.api.serializers import LoadSerializer
from templates_app.plans import mask_secrets, secret_values
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField
from tenancy.models import Project


class DeploymentCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    template_id = serializers.CharField(max_length=200)
    project_id = ScopedPrimaryKeyRelatedField(queryset=Project.objects.all())
    cluster_id = ScopedPrimaryKeyRelatedField(
        queryset=Cluster.objects.all(), required=False, help_text="The cluster to deploy on (or give cluster_set_id)."
    )
    cluster_set_id = ScopedPrimaryKeyRelatedField(
        queryset=ClusterSet.objects.all(),
        required=False,
        help_text="Instead of cluster_id: a cluster set, whose member where the stack starts first (or costs least) "
        "takes it; the choice and the runner-up are returned in the preview and kept in the plan's `placement`.",
    )
    strategy = serializers.ChoiceField(
        choices=ClusterSet.Strategy.choices,
        required=False,
        help_text="With cluster_set_id: earliest_start or lowest_cost (default: the set's).",
    )
    name = serializers.RegexField(
        NAME_RE.pattern,
        max_length=NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        error_messages={"invalid": NAME_RULE, "max_length": NAME_RULE},
        help_text="Part of every component's address: a DNS label, unique among the cluster's live deployments; "
        "generated from the template when empty.",
    )
    parameters = serializers.DictField(required=False, default=dict)
    usecase_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="An SLO catalog use case: each component with optimize_with_budsim is sized for its SLOs.",
    )
    load = LoadSerializer(required=False, help_text="The expected load to size for (with usecase_id).")

    def validate(self, attrs):
        if ("cluster_id" in attrs) == ("cluster_set_id" in attrs):
            raise serializers.ValidationError({"cluster_id": ["Give cluster_id or cluster_set_id (one of them)."]})
        if "strategy" in attrs and "cluster_set_id" not in attrs:
            raise serializers.ValidationError({"strategy": ["Only with cluster_set_id."]})
        return attrs


class ComponentSummarySerializer(serializers.ModelSerializer):
    component_id = serializers.CharField(read_only=True)
    job_id = serializers.UUIDField(read_only=True, allow_null=True)
    role = serializers.SerializerMethodField(
        help_text=(
            "serving: the part of the deployed revision, the one its consumers use; candidate: its replacement "
            "(or a new part) starting in the pending revision, which takes over once every new part runs."
        )
    )
    revision = serializers.IntegerField(read_only=True, help_text="The deployment revision that started this part.")
    attempt = serializers.IntegerField(
        source="try_number",
        read_only=True,
        help_text="Which try of this part: 1, then one more per retry after a failure (changes do not count).",
    )

    class Meta:
        model = ComponentDeployment
        fields = [
            "key",
            "component_id",
            "role",
            "revision",
            "status",
            "status_message",
            "job_id",
            "outputs",
            "depends_on",
            "attempt",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=COMPONENT_ROLES))
    def get_role(self, row) -> str:
        return component_role(row)


class ComponentDetailSerializer(ComponentSummarySerializer):
    job_status = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    env = serializers.SerializerMethodField()

    class Meta(ComponentSummarySerializer.Meta):
        fields = [
            *ComponentSummarySerializer.Meta.fields,
            "id",
            "component_version",
            "job_type",
            "job_status",
            "config",
            "env",
            "resources",
            "submitted_at",
            "running_at",
            "created_at",
            "updated_at",
        ]

    def get_job_status(self, row) -> str | None:
        return row.job.status if row.job_id else None

    def _secrets(self, row) -> list[str]:
        deployment = row.deployment
        return secret_values(deployment.parameters, deployment.plan.get("secret_parameters", ()))

    def get_config(self, row) -> dict:
        return mask_secrets(row.config, self._secrets(row))

    def get_env(self, row) -> dict:
        return mask_secrets(row.env, self._secrets(row))


class DeploymentSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    project_id = serializers.UUIDField(read_only=True)
    cluster_id = serializers.UUIDField(read_only=True)
    template_id = serializers.SerializerMethodField()
    parameters = serializers.SerializerMethodField()
    components = serializers.SerializerMethodField()
    estimated_hourly_cost = serializers.SerializerMethodField(help_text="Per hour, as planned.")
    cost_so_far = serializers.SerializerMethodField(
        help_text="What every job of the deployment has cost up to now, as the jobs API shows each job's."
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    pending_revision = serializers.IntegerField(source="pending_revision.number", read_only=True, default=None)
    upgrade_available = serializers.SerializerMethodField(
        help_text="The template's newer version when the deployment runs an older one (PATCH template_version)."
    )
    endpoint = serializers.SerializerMethodField(
        help_text="The stable URL clients send requests to (with `Authorization: Bearer <deployment key>`): it stays "
        "the same through updates, rollbacks and scaling; the gateway routes it to whichever component serves."
    )

    class Meta:
        model = UseCaseDeployment
        fields = [
            "id",
            "name",
            "endpoint",
            "tenant_id",
            "project_id",
            "cluster_id",
            "template_id",
            "template_version",
            "status",
            "status_message",
            "parameters",
            "usecase_id",
            "load",
            "components",
            "estimated_hourly_cost",
            "cost_so_far",
            "revision",
            "pending_revision",
            "upgrade_available",
            "scale",
            "created_by",
            "created_at",
            "updated_at",
            "last_reconciled_at",
        ]
        read_only_fields = fields

    def get_template_id(self, deployment) -> str:
        return deployment.template.api_id

    def get_endpoint(self, deployment) -> str | None:
        return deployment_endpoint_url(deployment, request=self.context.get("request"))

    def get_upgrade_available(self, deployment) -> str | None:
        return deployment_upgrade_available(deployment)

    @extend_schema_field(MoneyField())
    def get_estimated_hourly_cost(self, deployment) -> str:
        return money_text(deployment_hourly_cost(deployment))

    @extend_schema_field(MoneyField())
    def get_cost_so_far(self, deployment) -> str:
        if not hasattr(deployment, "cost_so_far"):
            deployments_cost_so_far([deployment])
        return money_text(deployment.cost_so_far)

    def get_parameters(self, deployment) -> dict:
        return deployment.plan.get("parameters", {})

    def get_components(self, deployment) -> list[dict]:
        rows = getattr(deployment, "current_components", None)
        if rows is None:
            rows = list(deployment.components.filter(retired_at__isnull=True).select_related("job"))
        return ComponentSummarySerializer(components_in_order(deployment, rows), many=True).data


class DeploymentEventSerializer(serializers.ModelSerializer):
    component_key = serializers.CharField(source="component.key", read_only=True, default=None)

    class Meta:
        model = DeploymentEvent
        fields = ["id", "kind", "message", "component_key", "data", "created_at"]


class PreviewCapacitySerializer(serializers.Serializer):
    fits_now = serializers.BooleanField()
    predicted_start = serializers.DateTimeField(allow_null=True)
    never_fits = serializers.ListField()
    free = serializers.DictField()


class DeploymentPreviewSerializer(serializers.Serializer):
    plan = serializers.DictField()
    waves = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    start_order = serializers.ListField(child=serializers.CharField())
    totals = serializers.DictField()
    capacity = PreviewCapacitySerializer()
    estimated_hourly_cost = MoneyField()
    hourly_cost_by_component = serializers.DictField(child=MoneyField())
    sizing = serializers.DictField(
        help_text='{"usecase_id", "load", "components": {key: placement or sizing}}: for a sized component the '
        "chosen candidate (null when none meets every SLO), the runners-up, the SLO check and the reasons; for a "
        "placed one the GPU type chosen on the cluster and why."
    )
    slo_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='{"slo.<name>": [...]}: SLOs no configuration meets; a deploy with them answers 400.',
    )
    cluster_id = serializers.UUIDField(help_text="The cluster previewed (with a cluster set: the one it chose).")
    placement = serializers.JSONField(
        allow_null=True,
        help_text='With cluster_set_id: {"strategy", "reason", "chosen", "runner_up", "candidates": [{"cluster_id", '
        '"name", "status", "predicted_start", "hourly_cost", "cost", "fits_now", "excluded"}]}; null otherwise.',
    )


class DeploymentUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    parameters = serializers.DictField(required=False, help_text="Merged onto the current parameters.")
    template_version = serializers.CharField(required=False, max_length=50)
    usecase_id = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Size again for this use case ('' for none)."
    )
    load = LoadSerializer(required=False, help_text="Size again for this load.")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give parameters, template_version, usecase_id and/or load.")
        return attrs


class DeploymentScaleSerializer(StrictFieldsMixin, serializers.Serializer):
    scale = ScaleRequestField(help_text='Per component: {"llm": {"replicas": 3, "resources": {...}}}.')


class DeploymentRollbackSerializer(StrictFieldsMixin, serializers.Serializer):
    revision = serializers.IntegerField(min_value=1)


class DeploymentChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    parameters = serializers.DictField(required=False)
    template_version = serializers.CharField(required=False, max_length=50)
    usecase_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    load = LoadSerializer(required=False)
    scale = ScaleRequestField(required=False)
    rollback_to = serializers.IntegerField(required=False, min_value=1)


class DeploymentRevisionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    parameters = serializers.SerializerMethodField()

    class Meta:
        model = DeploymentRevision
        fields = [
            "number",
            "kind",
            "status",
            "status_message",
            "template_version",
            "parameters",
            "plan",
            "scale",
            "components",
            "change",
            "rollback_of",
            "created_by",
            "created_at",
            "completed_at",
        ]

    def get_parameters(self, revision) -> dict:
        return revision.plan.get("parameters", {})


class ChangePlanSerializer(serializers.Serializer):
    kind = serializers.CharField()
    from_revision = serializers.IntegerField()
    rollback_to = serializers.IntegerField(allow_null=True)
    template_version = serializers.DictField()
    parameters = serializers.DictField()
    scale = serializers.DictField()
    components = serializers.ListField(child=serializers.DictField())
    summary = serializers.DictField()
    gpus = serializers.DictField()
    hourly_cost = serializers.DictField(child=MoneyField(), help_text="before, after and delta, per hour.")
    capacity = serializers.DictField()
    start_order = serializers.ListField(child=serializers.CharField())
    stop_order_after_switch = serializers.ListField(child=serializers.CharField())
    is_noop = serializers.BooleanField()
    usecase_id = serializers.DictField(help_text='{"from", "to"}: the use case sized for.')
    load = serializers.DictField(help_text='{"from", "to"}: the load sized for.')
    sizing = serializers.DictField(help_text="The new plan's placement and sizing (as in a preview).")
    slo_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="SLOs no configuration meets; applying the change answers 400.",
    )
