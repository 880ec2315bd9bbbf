from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from autoscaling import endpoint_queue as queue
from core.exceptions import NotFound
from deployments.selectors import deployment_list
from serving import selectors, services
from serving.api.serializers import DeploymentKeySecretSerializer, DeploymentKeySerializer, EndpointQueueSerializer
from serving.filters import DeploymentKeyFilterSet
from serving.models import DeploymentKey
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedMixin

DEPLOYMENT_ID = OpenApiParameter(
    "deployment_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The deployment whose endpoint the keys open.",
)


def _deployment_for(request, deployment_id):
    found = deployment_list(user=request.user).filter(pk=deployment_id).first()
    if found is None:
        raise NotFound("No such deployment.")
    return found


def _with_secret(key: DeploymentKey, secret: str) -> dict:
    key.secret = secret
    return DeploymentKeySecretSerializer(key).data


@extend_schema_view(
    list=extend_schema(parameters=[DEPLOYMENT_ID]),
    retrieve=extend_schema(parameters=[DEPLOYMENT_ID]),
    partial_update=extend_schema(parameters=[DEPLOYMENT_ID]),
    destroy=extend_schema(parameters=[DEPLOYMENT_ID], responses={204: None}),
)
class DeploymentKeyViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """API keys of a deployment's endpoint: the secret is in the create and rotate responses only; DELETE revokes
    (the key stays listed, with revoked_at)."""

    queryset = DeploymentKey.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = DeploymentKeySerializer
    filterset_class = DeploymentKeyFilterSet
    ordering_fields = ["created_at", "name", "last_used_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def deployment(self):
        if not hasattr(self, "_deployment"):
            self._deployment = _deployment_for(self.request, self.kwargs["deployment_id"])
        return self._deployment

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DeploymentKey.objects.none()
        return selectors.key_list(user=self.request.user, deployment=self.deployment())

    @extend_schema(
        parameters=[DEPLOYMENT_ID], request=DeploymentKeySerializer, responses={201: DeploymentKeySecretSerializer}
    )
    def create(self, request, deployment_id=None):
        """Create a key (`{"name", "rate_limit"?}`); the response shows its secret, once."""
        deployment = self.deployment()  # another tenant's deployment is a 404 before its body is read
        serializer = DeploymentKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, secret = services.key_create(user=request.user, deployment=deployment, **serializer.validated_data)
        return Response(_with_secret(key, secret), status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.key_update(
            user=self.request.user, key=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.key_revoke(user=self.request.user, key=instance)

    @extend_schema(parameters=[DEPLOYMENT_ID], request=None, responses={200: DeploymentKeySecretSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def rotate(self, request, deployment_id=None, pk=None):
        """Give the key a new secret (shown once, in this response); the old secret is refused from now on."""
        key, secret = services.key_rotate(user=request.user, key=self.get_object())
        return Response(_with_secret(key, secret))


QUEUE_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    404: OpenApiResponse(ErrorSerializer, description="No such deployment in the caller's tenants."),
}
QUEUE_WRITE_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Field errors: max_length, timeout_s, priority_by, unknown."),
    403: OpenApiResponse(ErrorSerializer, description="A read-only role in the deployment's tenant."),
    409: OpenApiResponse(ErrorSerializer, description="The deployment is being deleted."),
    **QUEUE_ERRORS,
}


def _queue_body(deployment, settings) -> dict:
    settings.length = queue.length(deployment_id=deployment.pk)
    return EndpointQueueSerializer(settings).data


class EndpointQueueView(TenantScopedMixin, APIView):
    """The request queue of a deployment's endpoint: max length, per-request timeout, priority by key or arrival.

    Unset, the defaults apply (100 requests, 30 s, by key priority). PUT and PATCH both set only the fields sent."""

    def get_queryset(self):  # the object is the deployment, read through its app's selector in _deployment_for
        return deployment_list(user=self.request.user)

    @extend_schema(parameters=[DEPLOYMENT_ID], responses={200: EndpointQueueSerializer, **QUEUE_ERRORS})
    def get(self, request, deployment_id):
        deployment = _deployment_for(request, deployment_id)
        return Response(_queue_body(deployment, selectors.queue_settings(deployment_id=deployment.pk)))

    @extend_schema(
        parameters=[DEPLOYMENT_ID],
        request=EndpointQueueSerializer,
        responses={200: EndpointQueueSerializer, **QUEUE_WRITE_ERRORS},
    )
    def put(self, request, deployment_id):
        deployment = _deployment_for(request, deployment_id)  # another tenant's is a 404 before the body is read
        serializer = EndpointQueueSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        settings = services.queue_settings_set(user=request.user, deployment=deployment, **serializer.validated_data)
        return Response(_queue_body(deployment, settings))

    @extend_schema(
        parameters=[DEPLOYMENT_ID],
        request=EndpointQueueSerializer,
        responses={200: EndpointQueueSerializer, **QUEUE_WRITE_ERRORS},
    )
    def patch(self, request, deployment_id):
        return self.put(request, deployment_id)
