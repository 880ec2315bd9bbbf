from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from core.renderers import FastJSONRenderer
from deployments.models import UseCaseDeployment
from observability import selectors, services
from observability.api.serializers import (
    MetricsQuerySerializer,
    MonitoringSerializer,
    RangeQuerySerializer,
    SloStatusSerializer,
)
from observability.query import range_query
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedMixin

ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    404: OpenApiResponse(ErrorSerializer, description="No such deployment in the caller's tenants."),
}
BAD_QUERY = OpenApiResponse(ErrorSerializer, description="Field errors: unknown name, bad time, range or step.")


class DeploymentObservabilityViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """A deployment's metrics, SLO attainment and monitoring settings (detail routes only)."""

    queryset = UseCaseDeployment.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = SloStatusSerializer
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self):
        return selectors.monitored_deployments(user=self.request.user)

    @extend_schema(responses={200: SloStatusSerializer, **ERRORS})
    @action(detail=True, methods=["get"])
    def slo(self, request, pk=None):
        """Per latency target of its use case: attainment over 5m/30m/1h/6h/30d, error budget left, burn rate."""
        deployment = self.get_object()
        return Response(selectors.deployment_slo(deployment=deployment, now=timezone.now()))

    @extend_schema(
        parameters=[
            MetricsQuerySerializer,
            OpenApiParameter("from", str, description="Alias of start."),
            OpenApiParameter("to", str, description="Alias of end."),
        ],
        responses={200: RangeQuerySerializer, 400: BAD_QUERY, **ERRORS},
    )
    @action(detail=True, methods=["get"], renderer_classes=[FastJSONRenderer, BrowsableAPIRenderer])
    def metrics(self, request, pk=None):
        """Series shaped like Prometheus's query_range answer; `from`/`to` are accepted for `start`/`end`."""
        deployment = self.get_object()
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        # orjson writes the points as PostgreSQL's path serialized them (no list per point); DRF's own encoder,
        # behind the browsable API or an indented answer, needs the lists.
        renderer = request.accepted_renderer
        prerendered = isinstance(renderer, FastJSONRenderer) and renderer.writes_fragments(request.accepted_media_type)
        return Response(
            range_query(
                deployment_id=deployment.pk,
                names=q["names"],
                start=q["start"],
                end=q["end"],
                step=q["step"],
                component=q["component"],
                json_points=prerendered,
            )
        )

    @extend_schema(
        methods=["GET"],
        responses={200: MonitoringSerializer, **ERRORS},
    )
    @extend_schema(
        methods=["PATCH"],
        request=MonitoringSerializer,
        responses={200: MonitoringSerializer, 400: BAD_QUERY, 403: OpenApiResponse(ErrorSerializer), **ERRORS},
    )
    @action(detail=True, methods=["get", "patch"])
    def monitoring(self, request, pk=None):
        """The SLO objective (default 0.99) and, on a simulated cluster, the load profile the deployment receives."""
        deployment = self.get_object()
        if request.method == "GET":
            return Response(MonitoringSerializer(services.monitoring_get(deployment=deployment)).data)
        body = MonitoringSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        saved = services.monitoring_update(user=request.user, deployment=deployment, changes=body.validated_data)
        return Response(MonitoringSerializer(saved).data)
