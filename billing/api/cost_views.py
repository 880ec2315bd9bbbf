"""GET /api/v1/costs (and /api/v1/costs.csv): the cost explorer's data."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from billing.api.cost_serializers import CostQuerySerializer, CostReportSerializer
from billing.cost_csv import cost_csv
from billing.costs import DIMENSIONS, STEPS, RankedGroups, cost_report
from core.api.pagination import LimitOffsetPagination
from core.renderers import FastJSONRenderer
from sizing.api.serializers import ErrorSerializer


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode() if isinstance(data, str) else JSONRenderer().render(data)


class CostView(generics.GenericAPIView):
    """Cost of the caller's usage over time, grouped by project, tenant, deployment, use case, template or GPU type."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [FastJSONRenderer, CSVRenderer]  # DRF's JSON bytes, written by orjson
    pagination_class = LimitOffsetPagination
    serializer_class = CostReportSerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="costs_retrieve",
        parameters=[
            OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(DIMENSIONS), description="Default project."),
            OpenApiParameter("from", OpenApiTypes.STR, description="Day or RFC 3339 time (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.STR, description="Day or RFC 3339 time (exclusive)."),
            OpenApiParameter("month", OpenApiTypes.STR, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM."),
            OpenApiParameter("step", OpenApiTypes.STR, enum=list(STEPS), description="Default day."),
            OpenApiParameter("tenant_id", OpenApiTypes.UUID),
            OpenApiParameter("project_id", OpenApiTypes.UUID),
            OpenApiParameter("deployment_id", OpenApiTypes.UUID),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], description="csv: every group."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Groups per page (default 50)."),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={
            (200, "application/json"): CostReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="A row per group and step, then totals."),
            400: OpenApiResponse(ErrorSerializer, description="Field errors: group_by, from/to/month, step, ids."),
            401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
        },
    )
    def get(self, request, *args, **kwargs):
        """Exact sums of the usage records per group and step (hour or day), with the cost per million tokens."""
        query = CostQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        q = query.validated_data
        # The groups answered, with their amounts per step: every group in CSV, this page's in JSON.
        csv = request.accepted_renderer.format == "csv"
        offset = self.paginator.get_offset(request)
        report = cost_report(
            user=request.user,
            group_by=q["group_by"],
            start=q["start"],
            end=q["end"],
            step=q["step"],
            tenant=q.get("tenant_id"),
            project=q.get("project_id"),
            deployment_id=q.get("deployment_id"),
            shown=None if csv else slice(offset, offset + self.paginator.get_limit(request)),
            steps=not csv,  # the CSV reads its steps as it writes them
        )
        if csv:
            name = f"costs-{report.group_by}-{report.start:%Y%m%d}-{report.end:%Y%m%d}.csv"
            return Response(
                cost_csv(report),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        page = self.paginate_queryset(RankedGroups(report))  # read with the report: its count and this page
        body = {
            "group_by": report.group_by,
            "start": report.start,
            "end": report.end,
            "step": report.step,
            "total": report.total,
            "tokens": report.tokens,
            "cost_per_million_tokens": report.cost_per_million_tokens,
            "buckets": report.buckets,
            "count": report.count,
            "next": self.paginator.get_next_link(),
            "previous": self.paginator.get_previous_link(),
            "results": page,
        }
        return Response(CostReportSerializer(body).data)
