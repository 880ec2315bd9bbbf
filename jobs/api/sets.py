"""The cluster-set API: sets of a tenant's clusters (CRUD), where a job would go (preview), and submitting to a set."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.fields import StrictFieldsMixin
from jobs import selectors, services
from jobs.api.serializers import JobCreateSerializer, JobSerializer, PriorityField
from jobs.filters import ClusterSetFilterSet
from jobs.models import Cluster, ClusterSet, Job
from jobs.services.sets import placement_refusal
from tenancy.api.viewsets import FixedAfterCreateMixin, ScopedPrimaryKeyRelatedField, TenantScopedViewSet
from tenancy.models import Tenant
from tenancy.selectors import require_write

STRATEGY_HELP = (
    "earliest_start: the member where the work starts first (cost breaks ties); lowest_cost: the member where it "
    "costs least (the start breaks ties)."
)


class ClusterSetMemberSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="ACTIVE, DRAINING or OFFLINE: only ACTIVE members take work.")


class ClusterSetSerializer(FixedAfterCreateMixin, StrictFieldsMixin, serializers.ModelSerializer):
    tenant_id = ScopedPrimaryKeyRelatedField(source="tenant", queryset=Tenant.objects.all(), tenant_field="id")
    cluster_ids = ScopedPrimaryKeyRelatedField(
        source="clusters",
        queryset=Cluster.objects.all(),
        many=True,
        help_text="The member clusters (1 to 50), all of the set's tenant.",
    )
    clusters = ClusterSetMemberSerializer(many=True, read_only=True)
    strategy = serializers.ChoiceField(
        choices=ClusterSet.Strategy.choices, default=ClusterSet.Strategy.EARLIEST_START, help_text=STRATEGY_HELP
    )

    class Meta:
        model = ClusterSet
        fields = [
            "id",
            "tenant_id",
            "name",
            "description",
            "strategy",
            "cluster_ids",
            "clusters",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # name uniqueness is a business rule answered by the service


class PlacementCandidateSerializer(serializers.Serializer):
    cluster_id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    predicted_start = serializers.DateTimeField(allow_null=True, help_text="Null: it would wait indefinitely.")
    hourly_cost = serializers.DecimalField(max_digits=18, decimal_places=6, coerce_to_string=True)
    cost = serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        coerce_to_string=True,
        help_text="The whole run of a BATCH/TRAINING job; one hour of a SERVICE.",
    )
    fits_now = serializers.BooleanField()
    excluded = serializers.CharField(help_text="Why this member cannot take the work (empty when it can).")


class PlacementSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=ClusterSet.Strategy.choices)
    chosen = PlacementCandidateSerializer(allow_null=True)
    runner_up = PlacementCandidateSerializer(allow_null=True)
    candidates = PlacementCandidateSerializer(
        many=True, help_text="Eligible members in rank order, then the excluded ones."
    )
    reason = serializers.CharField()


class PlacementRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    job_type = serializers.ChoiceField(choices=Job.JobType.choices)
    resources = serializers.JSONField(help_text='{"gpu_type", "gpu_count", "cpu", "memory_gib", "replicas"}')
    duration_seconds = serializers.FloatField(required=False, allow_null=True, default=None)
    priority = PriorityField(required=False, default=50)
    strategy = serializers.ChoiceField(
        choices=ClusterSet.Strategy.choices, required=False, help_text="Default: the set's."
    )


class ClusterSetJobCreateSerializer(JobCreateSerializer):
    strategy = serializers.ChoiceField(
        choices=ClusterSet.Strategy.choices, required=False, help_text="Default: the set's. " + STRATEGY_HELP
    )


REFUSALS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors; or no member could ever run it."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="A viewer of the tenant."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such cluster set in the caller's tenants."),
    409: OpenApiResponse(OpenApiTypes.OBJECT, description="No member of the set is available now."),
}


class ClusterSetViewSet(TenantScopedViewSet):
    """Sets of a tenant's clusters. Everyone reads; tenant admins create, change and delete; members submit."""

    queryset = ClusterSet.objects.none()  # for the router and the schema; requests read selectors.cluster_set_list
    serializer_class = ClusterSetSerializer
    filterset_class = ClusterSetFilterSet
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.cluster_set_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.cluster_set_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.cluster_set_update(
            user=self.request.user, cluster_set=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.cluster_set_delete(user=self.request.user, cluster_set=instance)

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        response = super().update(request, *args, **kwargs)
        response.data = self.get_serializer(self.get_queryset().get(pk=kwargs["pk"])).data
        return response

    @extend_schema(
        request=PlacementRequestSerializer,
        responses={200: PlacementSerializer, **REFUSALS},
        summary="Where the set would send a job",
        description="Each member's predicted start (its forecast, with the job added behind what waits at its "
        "priority) and cost; the chosen member and the runner-up. Nothing is written.",
    )
    @action(detail=True, methods=["post"], url_path="preview", filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        cluster_set = self.get_object()
        serializer = PlacementRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        placement = selectors.cluster_set_placement(
            cluster_set=cluster_set,
            resources_list=[data["resources"]],
            job_type=data["job_type"],
            duration_seconds=data["duration_seconds"],
            priority=data["priority"],
            strategy=data.get("strategy"),
        )
        if placement.chosen is None:
            raise placement_refusal(placement)
        return Response(PlacementSerializer(placement.as_dict()).data)

    @extend_schema(
        request=ClusterSetJobCreateSerializer,
        responses={201: JobSerializer, **REFUSALS},
        summary="Submit a job to the set",
        description="The job goes to the member where it starts first or costs least (`strategy`); the job's "
        "`placement` records the choice, the runner-up and every member's predicted start and cost. While it waits, "
        "a member that becomes unavailable sends it back to the set, which places it again.",
    )
    @action(detail=True, methods=["post"], url_path="jobs", filter_backends=[], pagination_class=None)
    def jobs(self, request, pk=None):
        cluster_set = self.get_object()
        require_write(request.user, cluster_set.tenant_id)
        serializer = ClusterSetJobCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        job = services.cluster_set_submit(user=request.user, cluster_set=cluster_set, **serializer.validated_data)
        job = selectors.job_list(user=request.user).get(pk=job.pk)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)
