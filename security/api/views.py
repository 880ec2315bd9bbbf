from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.exceptions import NotFound
from security import selectors, services
from security.api.serializers import ApiTokenCreatedSerializer, ApiTokenSerializer, ServiceAccountSerializer
from security.models import ApiToken
from tenancy.api.viewsets import TenantScopedMixin


def _create_token(request, owner) -> Response:
    serializer = ApiTokenSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    token, key = services.token_create(user=request.user, owner=owner, **serializer.validated_data)
    token.key = key
    return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The caller's API tokens. The key is in the creation response only; DELETE revokes."""

    serializer_class = ApiTokenSerializer
    object_name = "API token"
    permission_classes = [IsAuthenticated]
    filterset_fields = ["scope"]
    ordering_fields = ["created_at", "name", "last_used_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.token_list(user=self.request.user)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        """Create a token (`{"name", "scope": "read"|"write", "expires_in_days"}`); the response shows the key."""
        return _create_token(request, request.user)

    def perform_destroy(self, instance):
        services.token_revoke(user=self.request.user, token=instance)


class ServiceAccountViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Tenant service accounts for pipelines: members read, the tenant's admins manage them and their tokens."""

    serializer_class = ServiceAccountSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ["is_active"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.service_account_list(user=self.request.user)

    def perform_create(self, serializer):
        account = services.service_account_create(user=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=account.pk)

    def perform_update(self, serializer):
        services.service_account_update(
            user=self.request.user, account=serializer.instance, **serializer.validated_data
        )
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        services.service_account_deactivate(user=self.request.user, account=instance)

    @extend_schema(
        request=ApiTokenSerializer, responses={200: ApiTokenSerializer(many=True), 201: ApiTokenCreatedSerializer}
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def tokens(self, request, pk=None):
        """List (GET) or create (POST, the tenant's admins) the account's tokens; the key is shown once."""
        account = self.get_object()
        if request.method == "POST":
            return _create_token(request, account.user)
        page = self.paginate_queryset(selectors.service_account_tokens(account=account))
        return self.get_paginated_response(ApiTokenSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[OpenApiParameter("token_id", str, OpenApiParameter.PATH, description="The token's id.")],
    )
    @action(detail=True, methods=["delete"], url_path=r"tokens/(?P<token_id>[0-9a-f-]{36})", filter_backends=[])
    def revoke_token(self, request, pk=None, token_id=None):
        """Revoke one of the account's tokens (the tenant's admins)."""
        account = self.get_object()
        token = selectors.service_account_tokens(account=account).filter(pk=token_id).first()
        if token is None:
            raise NotFound("No such token.")
        services.token_revoke(user=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
