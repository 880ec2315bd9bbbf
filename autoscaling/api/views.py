from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autoscaling import selectors, services
from autoscaling.api.serializers import (
    AutoscalingSerializer,
    AutoscalingUpdateSerializer,
    ScalingDecisionSerializer,
    WakeSerializer,
)
from autoscaling.filters import ScalingDecisionFilterSet
from core.exceptions import ValidationError
from deployments.models import UseCaseDeployment
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedMixin

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
