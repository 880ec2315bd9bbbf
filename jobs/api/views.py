from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.exceptions import NotFound
from jobs import selectors, services
from jobs.api.params import window_and_count
from jobs.api.quota_serializers import JobEventSerializer
from jobs.api.serializers import (
    ClusterCheckSerializer,
    ClusterSerializer,
    JobBulkCreateSerializer,
    JobBulkSerializer,
    JobCreateSerializer,
    JobRequeueSerializer,
    JobSerializer,
    ScheduleSerializer,
)
from jobs.filters import ClusterFilterSet, JobFilterSet
from jobs.models import Cluster, Job
from tenancy.api.viewsets import TenantScopedViewSet
from tenancy.selectors import require_write

CLUSTER_ID = OpenApiParameter("cluster_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class ClusterViewSet(TenantScopedViewSet):
    """Clusters of the caller's tenants. Everyone reads; tenant admins create, change and delete."""

    queryset = Cluster.objects.none()  # for the router and the schema; requests read selectors.cluster_list
    serializer_class = ClusterSerializer
    filterset_class = ClusterFilterSet
    ordering_fields = ["name", "created_at", "status"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.cluster_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.cluster_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.cluster_update(
            user=self.request.user, cluster=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.cluster_delete(user=self.request.user, cluster=instance)

    @extend_schema(request=None, responses=ClusterCheckSerializer)
    @action(detail=True, methods=["post"], url_path="check", filter_backends=[], pagination_class=None)
    def check(self, request, pk=None):
        """Test the connection and read the inventory (GPUs per type from node allocatable), storing it on the
        cluster. An unusable cluster answers 200 with `ok: false` and why (`reason`, `message`)."""
        result = services.cluster_check(cluster=self.get_object(), user=request.user)
        return Response(ClusterCheckSerializer(result).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Window start (default: an hour ago)."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Window end (default: a day from now)."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many jobs (default 1000, max 5000)."),
        ],
        responses=ScheduleSerializer,
    )
    @action(detail=True, methods=["get"], url_path="schedule", filter_backends=[], pagination_class=None)
    def schedule(self, request, pk=None):
        """The timeline: each job that runs (or is predicted to run) within the window with its actual start and end,
        predicted start and queue position for waiting jobs, and current utilisation per resource."""
        cluster = self.get_object()
        now = timezone.now()
        start, end, limit = window_and_count(
            request.query_params,
            default_from=now - timedelta(hours=1),
            default_to=now + timedelta(days=1),
            name="limit",
            default=1000,
            low=1,
            high=5000,
        )
        schedule = selectors.cluster_schedule(cluster=cluster, start=start, end=end, now=now, limit=limit)
        body = ScheduleSerializer(
            {"id": cluster.pk, "cluster_id": cluster.pk, **schedule}, context={"forecast": schedule["forecast"]}
        ).data
        return Response(body)


@extend_schema_view(
    list=extend_schema(parameters=[CLUSTER_ID]),
    retrieve=extend_schema(parameters=[CLUSTER_ID]),
    create=extend_schema(parameters=[CLUSTER_ID], request=JobCreateSerializer, responses={201: JobSerializer}),
    partial_update=extend_schema(parameters=[CLUSTER_ID]),
    destroy=extend_schema(
        parameters=[CLUSTER_ID, OpenApiParameter("reason", OpenApiTypes.STR, description="Why it is cancelled.")],
        request=None,
        responses=JobSerializer,
        description="Cancel the job: it stops, frees its capacity and keeps its record as CANCELLED.",
    ),
)
class JobViewSet(TenantScopedViewSet):
    """Jobs on a cluster. Members submit, reprioritise, relabel and cancel; viewers read."""

    queryset = Job.objects.none()  # for the router and the schema; requests read selectors.job_list
    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    extra_query_params = {"destroy": ("reason",)}
    object_name = "job"
    ordering_fields = [
        "created_at",
        "priority",
        "status",
        "name",
        "queued_at",
        "started_at",
        "completed_at",
        "estimated_cost",
        "actual_cost",
    ]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_cluster(self) -> Cluster:
        if not hasattr(self, "_cluster"):
            cluster = selectors.cluster_list(user=self.request.user).filter(pk=self.kwargs["cluster_id"]).first()
            if cluster is None:
                raise NotFound("No such cluster.")
            self._cluster = cluster
        return self._cluster

    def get_queryset(self):
        return selectors.job_list(user=self.request.user, cluster=self.get_cluster())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["forecast_for"] = self._forecast_item
        return context

    def _forecast_item(self, job):
        # One forecast per request, computed only when a waiting job is rendered.
        if not hasattr(self, "_forecast"):
            self._forecast = selectors.cluster_forecast(cluster=self.get_cluster())
        return self._forecast.jobs.get(job.pk)

    def create(self, request, *args, **kwargs):
        cluster = self.get_cluster()
        require_write(request.user, cluster.tenant_id)  # a viewer's POST is a 403 before its body is read
        serializer = JobCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        job = services.job_submit(
            user=request.user, cluster=cluster, tenant=cluster.tenant, **serializer.validated_data
        )
        job = self.get_queryset().get(pk=job.pk)
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[CLUSTER_ID],
        request=JobBulkCreateSerializer,
        responses={
            201: JobBulkSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description='{"detail", "errors": {"jobs.<index>.<field>": [...]}}: nothing recorded.',
            ),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="A viewer of the tenant."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such cluster in the caller's tenants."),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="The cluster accepts no new jobs."),
        },
        summary="Submit many jobs at once",
        description="Up to 1,000 jobs, each as in a single submission, recorded in one transaction (all or nothing) "
        "and admitted by one scheduling pass in priority order.",
    )
    @action(detail=False, methods=["post"], url_path="bulk", filter_backends=[], pagination_class=None)
    def bulk(self, request, *args, **kwargs):
        cluster = self.get_cluster()
        require_write(request.user, cluster.tenant_id)  # a viewer's POST is a 403 before its body is read
        serializer = JobBulkCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        items = [{**item, "tenant": cluster.tenant} for item in serializer.validated_data["jobs"]]
        jobs = services.jobs_submit_many(user=request.user, cluster=cluster, jobs=items)
        found = self.get_queryset().in_bulk([job.pk for job in jobs])
        data = JobSerializer([found[job.pk] for job in jobs], many=True, context=self.get_serializer_context()).data
        return Response({"jobs": data}, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[CLUSTER_ID],
        request=JobRequeueSerializer,
        responses={
            200: JobSerializer,
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="A viewer of the tenant."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such job in the caller's tenants."),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="A SERVICE, or a job that holds no capacity."),
        },
        summary="Interrupt a job to resume it from its last checkpoint",
        description="The job stops, frees its capacity and waits in its queue again; when admitted it resumes from "
        "its last checkpoint (at most one checkpoint interval of work is lost, all of it without checkpoints).",
    )
    @action(detail=True, methods=["post"], url_path="requeue", filter_backends=[], pagination_class=None)
    def requeue(self, request, *args, **kwargs):
        job = self.get_object()
        require_write(request.user, job.tenant_id)
        serializer = JobRequeueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.job_requeue(job=job, user=request.user, reason=serializer.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=job.pk)).data)

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer):
        services.job_update(job=serializer.instance, user=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def destroy(self, request, *args, **kwargs):
        job = self.get_object()
        services.job_cancel(job=job, user=request.user, reason=request.query_params.get("reason", "")[:500])
        return Response(self.get_serializer(self.get_queryset().get(pk=job.pk)).data)

    @extend_schema(parameters=[CLUSTER_ID], responses=JobEventSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="events", filter_backends=[])
    def events(self, request, *args, **kwargs):
        """What happened to the job beyond its status, newest first: preemptions, on both sides, with the reason."""
        job = self.get_object()
        page = self.paginate_queryset(job.events.all())
        return self.get_paginated_response(JobEventSerializer(page, many=True).data)
