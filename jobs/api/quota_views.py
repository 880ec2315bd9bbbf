from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from core.exceptions import ValidationError
from jobs import quota_selectors, services
from jobs.api.params import window_and_count
from jobs.api.quota_serializers import (
    ClusterQueueSerializer,
    LocalQueueSerializer,
    QueueHistorySerializer,
)
from jobs.filters import ClusterQueueFilterSet, LocalQueueFilterSet
from jobs.models import ClusterQueue, LocalQueue
from tenancy.api.viewsets import TenantScopedViewSet


class ClusterQueueViewSet(TenantScopedViewSet):
    """Quotas on clusters (Kueue's ClusterQueue): everyone in the tenant reads them with their usage now; the
    tenant's admins create, change and delete them."""

    queryset = ClusterQueue.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = ClusterQueueSerializer
    filterset_class = ClusterQueueFilterSet
    ordering_fields = ["name", "cohort", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return quota_selectors.cluster_queue_list(user=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["usage"] = self._usage
        return context

    @property
    def _usage(self) -> dict:
        # One dict per request, filled once the queues to show are known (a write fills it after the service).
        if not hasattr(self, "_usage_by_queue"):
            self._usage_by_queue = {}
        return self._usage_by_queue

    def _with_usage(self, queues):
        self._usage.update(quota_selectors.cluster_queue_usage(list(queues)))
        return queues

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        self._with_usage(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        queue = self.get_object()
        self._with_usage([queue])
        return Response(self.get_serializer(queue).data)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        cluster = data.pop("cluster")
        serializer.instance = services.cluster_queue_create(user=self.request.user, cluster=cluster, data=data)
        self._with_usage([serializer.instance])

    def perform_update(self, serializer):
        serializer.instance = services.cluster_queue_update(
            user=self.request.user, queue=serializer.instance, data=dict(serializer.validated_data)
        )
        self._with_usage([serializer.instance])

    def perform_destroy(self, instance):
        services.cluster_queue_delete(user=self.request.user, queue=instance)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Window start (default: a day ago)."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Window end (default: now)."),
            OpenApiParameter("step_hours", OpenApiTypes.INT, description="Step of the series, 1 to 24 (default 1)."),
        ],
        responses=QueueHistorySerializer,
    )
    @action(detail=True, methods=["get"], url_path="usage", filter_backends=[], pagination_class=None)
    def usage(self, request, pk=None):
        """GPU-hours the queue's jobs ran over a window, per GPU type, in total and per step (at most 31 days)."""
        queue = self.get_object()
        now = timezone.now()
        start, end, step = window_and_count(
            request.query_params,
            default_from=now - timedelta(days=1),
            default_to=now,
            name="step_hours",
            default=1,
            low=1,
            high=24,
        )
        if end - start > timedelta(days=31):
            raise ValidationError({"from": ["At most 31 days before `to`."]})
        history = quota_selectors.cluster_queue_gpu_hours(queue=queue, start=start, end=end, step_hours=step)
        return Response(QueueHistorySerializer(history).data)


class LocalQueueViewSet(TenantScopedViewSet):
    """Which ClusterQueue a tenant's (or a project's) jobs on a cluster count against (Kueue's LocalQueue)."""

    queryset = LocalQueue.objects.none()
    serializer_class = LocalQueueSerializer
    filterset_class = LocalQueueFilterSet
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return quota_selectors.local_queue_list(user=self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.local_queue_create(
            user=self.request.user, cluster_queue=data["cluster_queue"], name=data["name"], project=data.get("project")
        )

    def perform_destroy(self, instance):
        services.local_queue_delete(user=self.request.user, local_queue=instance)
