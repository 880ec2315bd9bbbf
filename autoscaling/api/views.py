from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autoscaling import pools, selectors, services
from autoscaling.api.serializers import (
    AutoscalingSerializer,
    AutoscalingUpdateSerializer,
    ScalingDecisionSerializer,
    WakeSerializer,
    WarmPoolSerializer,
)
from autoscaling.filters import ScalingDecisionFilterSet
from autoscaling.models import WarmPool
from core.exceptions import ValidationError
from deployments.models import UseCaseDeployment
from jobs import selectors as job_selectors
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedMixin
from tenancy.selectors import project_list

ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    404: OpenApiResponse(ErrorSerializer, description="No such deployment in the caller's tenants."),
}


def _policies_body(deployment: UseCaseDeployment, policies: dict) -> dict:
    replicas = selectors.current_replicas(deployment)
    components = []
    for key in selectors.component_keys(deployment):
        policy, source = policies.get(key, (None, "none"))
        components.append(
            {
                "component": key,
                "source": source,
                "replicas": replicas[key],
                "policy": policy.to_dict() if policy else None,
                "effective_target": selectors.slo_target(deployment, policy) if policy else None,
            }
        )
    return {"components": components}


class DeploymentAutoscalingViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """A deployment's autoscaling policies and the autoscaler's decisions (detail routes only)."""

    queryset = UseCaseDeployment.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = AutoscalingSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.scaled_deployments(user=self.request.user)

    @extend_schema(methods=["GET"], responses={200: AutoscalingSerializer, **ERRORS})
    @extend_schema(
        methods=["PUT"],
        request=AutoscalingUpdateSerializer,
        responses={
            200: AutoscalingSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Field errors by path: components.<key>.<field>."),
            403: OpenApiResponse(ErrorSerializer, description="A read-only role in the deployment's tenant."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["get", "put"], pagination_class=None)
    def autoscaling(self, request, pk=None):
        """Per component: its policy (the deployment's own, or the template's `autoscaling:` block) or none. A PUT
        sets some components' own policies, each field laid over the policy that applies now."""
        deployment = self.get_object()
        if request.method == "GET":
            return Response(_policies_body(deployment, selectors.effective_policies(deployment)))
        components = request.data.get("components") if isinstance(request.data, dict) else None
        policies = services.policy_set(user=request.user, deployment=deployment, components=components)
        return Response(_policies_body(deployment, policies))

    @extend_schema(
        parameters=[
            OpenApiParameter("component", str, description="A component key."),
            OpenApiParameter("direction", str, many=True, enum=["up", "down", "to_zero", "wake"]),
            OpenApiParameter("outcome", str, many=True, enum=["applied", "waiting", "refused"]),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: ScalingDecisionSerializer(many=True), 400: OpenApiResponse(ErrorSerializer), **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def scaling(self, request, pk=None):
        """The autoscaler's decisions, newest first: from → to replicas, the reason, and when a scale-up waits for
        capacity, its predicted start. Filters: component, direction, outcome, created_after/before."""
        deployment = self.get_object()
        known = set(ScalingDecisionFilterSet.base_filters) | {"limit", "offset"}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        filterset = ScalingDecisionFilterSet(
            request.query_params, queryset=selectors.decision_list(deployment=deployment)
        )
        if not filterset.is_valid():
            raise ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(ScalingDecisionSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={
            200: WakeSerializer,
            403: OpenApiResponse(ErrorSerializer, description="A read-only role in the deployment's tenant."),
            409: OpenApiResponse(ErrorSerializer, description="The deployment is being deleted."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], pagination_class=None)
    def wake(self, request, pk=None):
        """Start every component at zero again, as the first request would: each with its predicted cold start
        (image pull, weights load, engine warm-up from the cluster's figures). Nothing at zero: an empty list."""
        deployment = self.get_object()
        starts = services.deployment_wake_up(
            user=request.user, deployment=deployment, now=timezone.now(), reason=f"woken by {request.user}"
        )
        return Response({"woken": [{"component": k, "cold_start": v.to_dict()} for k, v in starts.items()]})


class WarmPoolViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Pre-warmed pools per cluster and GPU type: standby replicas (engine up, no model) that cut a wake's cold
    start to seconds; each is a running job, so its cost is metered and shown here per hour."""

    queryset = WarmPool.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = WarmPoolSerializer
    filterset_fields = ["gpu_type"]

    def get_queryset(self):
        queryset = selectors.pool_list(user=self.request.user)
        cluster_id = self.request.query_params.get("cluster_id")
        return queryset.filter(cluster_id=cluster_id) if cluster_id else queryset

    def get_serializer_context(self):
        return {
            **super().get_serializer_context(),
            "standby": getattr(self, "_standby", {}),
            "wanted": getattr(self, "_wanted", {}),
        }

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        self._standby, self._wanted = selectors.pools_standby(page), pools.pools_wanted(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        pool = self.get_object()
        self._standby, self._wanted = selectors.pools_standby([pool]), pools.pools_wanted([pool])
        return Response(self.get_serializer(pool).data)

    @extend_schema(
        request=WarmPoolSerializer,
        responses={
            201: WarmPoolSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="Field errors: gpu_type, size, gpu_count, sizing, per_zero, min_size, miss, project_id.",
            ),
            403: OpenApiResponse(ErrorSerializer, description="A read-only role in the cluster's tenant."),
            **ERRORS,
        },
    )
    def create(self, request):
        """Create or resize the pool of a cluster's GPU type (one per type); standby jobs start or stop to match."""
        body = WarmPoolSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        cluster = job_selectors.cluster_list(user=request.user).filter(pk=data["cluster_id"]).first()
        if cluster is None:
            raise ValidationError({"cluster_id": ["No such cluster in your tenants."]})
        project = project_list(user=request.user).filter(pk=data["project_id"]).first()
        if project is None:
            raise ValidationError({"project_id": ["No such project in your tenants."]})
        settings = {name: data[name] for name in pools.POOL_SETTINGS}
        pool = pools.pool_set(user=request.user, cluster=cluster, project=project, **settings)
        self._standby, self._wanted = selectors.pools_standby([pool]), pools.pools_wanted([pool])
        return Response(self.get_serializer(pool).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted; its standby jobs were cancelled."),
            403: OpenApiResponse(ErrorSerializer, description="A read-only role in the pool's tenant."),
            401: ERRORS[401],
            404: OpenApiResponse(ErrorSerializer, description="No such pool in the caller's tenants."),
        },
    )
    def destroy(self, request, *args, **kwargs):
        """Delete a pool and stop its standby replicas (their GPUs are freed and their cost stops)."""
        pools.pool_delete(user=request.user, pool=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
