"""The sizing API: the search, one estimate, and the reference data. Reads only; any signed-in user."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from sizing import selectors
from sizing.api.serializers import (
    ErrorSerializer,
    EstimateRequestSerializer,
    EstimateSerializer,
    GpuTypeSerializer,
    ModelSpecSerializer,
    SizingRequestSerializer,
    SizingResultSerializer,
)
from sizing.reference import catalog
from sizing.search import Load

ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="Field errors: unknown model, GPU type, use case or cluster "
        "name the field and the known ids near it.",
    ),
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
}


class SizingView(APIView):
    expensive_actions = {"post"}  # a search over every GPU configuration: the stricter rate limit
    read_only_actions = {"post"}  # writes nothing: read-only tokens may call it

    @extend_schema(
        request=SizingRequestSerializer,
        responses={200: SizingResultSerializer, **ERRORS},
        summary="Which GPU type, count, precision and replicas meet the SLOs at the least cost",
        description="Every catalog GPU type (or the cluster's) x {1, 2, 4, 8} GPUs x precision, sized for the load, "
        "ranked: the cheapest meeting every SLO first. `chosen` is null when none does; `reasons` say why.",
    )
    def post(self, request):
        data = _valid(SizingRequestSerializer, request)
        model = selectors.model_resolve(model_id=data.get("model_id"), model_params_b=data.get("model_params_b"))
        workload = _workload(data)
        load = Load(**data.get("load", {}))
        cluster = (
            selectors.cluster_for(user=request.user, cluster_id=data["cluster_id"]) if "cluster_id" in data else None
        )
        result = selectors.sizing_run(
            model=model,
            workload=workload,
            load=load,
            cluster=cluster,
            gpu_types=data.get("gpu_types"),
            gpu_counts=data.get("gpu_counts"),
            precisions=data.get("precisions"),
        )
        inputs = {**workload.as_dict(), "model_id": model.id, "load": {k: v for k, v in vars(load).items() if v}}
        return Response({"inputs": inputs, **result.as_dict()})


class EstimateView(APIView):
    read_only_actions = {"post"}  # writes nothing: read-only tokens may call it

    @extend_schema(
        request=EstimateRequestSerializer,
        responses={200: EstimateSerializer, **ERRORS},
        summary="The performance model's estimates for one configuration",
    )
    def post(self, request):
        data = _valid(EstimateRequestSerializer, request)
        model = selectors.model_resolve(model_id=data.get("model_id"), model_params_b=data.get("model_params_b"))
        gpu = selectors.gpu_resolve(data["gpu_type"], field="gpu_type")
        result = selectors.estimate_run(
            model=model,
            gpu=gpu,
            gpu_count=data["gpu_count"],
            precision=data["precision"],
            workload=_workload(data),
            concurrency=data["concurrency"],
        )
        return Response(result)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _workload(data: dict) -> selectors.Workload:
    return selectors.workload_resolve(
        usecase_id=data.get("usecase_id"),
        input_tokens=data.get("input_tokens"),
        output_tokens=data.get("output_tokens"),
        slo=data.get("slo"),
    )


Q = OpenApiParameter("q", OpenApiTypes.STR, description="Part of an id, name or alias (any case).")


@extend_schema(
    parameters=[Q, OpenApiParameter("vendor", OpenApiTypes.STR, enum=["nvidia", "amd"])],
    responses={200: GpuTypeSerializer(many=True), 401: ERRORS[401]},
    summary="The GPU catalog sizing uses (shipped reference data, with sources)",
)
class GpuTypeListView(generics.ListAPIView):
    serializer_class = GpuTypeSerializer
    filter_backends = []

    def get_queryset(self):
        version = catalog().gpu_version
        params = self.request.query_params
        rows = selectors.gpu_type_list(q=params.get("q", ""), vendor=params.get("vendor", ""))
        return [{**g.as_dict(), "catalog_version": version} for g in rows]


@extend_schema(
    parameters=[Q, OpenApiParameter("kind", OpenApiTypes.STR, enum=["llm", "embedding", "reranker"])],
    responses={200: ModelSpecSerializer(many=True), 401: ERRORS[401]},
    summary="The model catalog sizing uses (architecture figures, with sources)",
)
class ModelListView(generics.ListAPIView):
    serializer_class = ModelSpecSerializer
    filter_backends = []

    def get_queryset(self):
        version = catalog().model_version
        params = self.request.query_params
        rows = selectors.model_list(q=params.get("q", ""), kind=params.get("kind", ""))
        return [{**m.as_dict(), "catalog_version": version} for m in rows]
