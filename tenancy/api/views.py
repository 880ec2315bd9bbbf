from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.exceptions import PermissionDenied
from tenancy import selectors, services
from tenancy.api.serializers import (
    MembershipRoleSerializer,
    MembershipSerializer,
    ProjectSerializer,
    TenantSerializer,
)
from tenancy.api.viewsets import TenantScopedMixin
from tenancy.filters import MembershipFilterSet, ProjectFilterSet, TenantFilterSet
from tenancy.models import Membership, Project


class TenantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tenants the caller belongs to. Superusers create tenants and become their first admin."""

    serializer_class = TenantSerializer
    filterset_class = TenantFilterSet
    permission_classes = [IsAuthenticated]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.tenant_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.tenant_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.tenant_update(
            user=self.request.user, tenant=serializer.instance, **serializer.validated_data
        )

    def _tenant_for_admin(self):
        tenant = self.get_object()
        if not selectors.user_is_tenant_admin(self.request.user, tenant.pk):
            raise PermissionDenied("Only the tenant's admins manage its members.")
        return tenant

    @extend_schema(request=MembershipSerializer, responses=MembershipSerializer(many=True))
    @action(detail=True, methods=["get", "post"], url_path="members", filter_backends=[])
    def members(self, request, pk=None):
        """List (GET) or add (POST `{"username", "role"}`) the tenant's members. Tenant admins only."""
        tenant = self._tenant_for_admin()
        if request.method == "GET":
            queryset = MembershipFilterSet(request.query_params, selectors.membership_list(tenant=tenant)).qs
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(MembershipSerializer(page, many=True).data)
        serializer = MembershipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(
            user=request.user,
            tenant=tenant,
            username=serializer.validated_data["user"]["username"],
            role=serializer.validated_data.get("role", Membership.Role.MEMBER),
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=MembershipRoleSerializer,
        responses=MembershipSerializer,
        parameters=[
            OpenApiParameter(
                "member_key",
                str,
                OpenApiParameter.PATH,
                description="The member's username (as listed and added); a user id only when no member has that "
                "username.",
            )
        ],
    )
    @action(
        detail=True, methods=["get", "patch", "delete"], url_path=r"members/(?P<member_key>[^/]+)", filter_backends=[]
    )
    def member(self, request, pk=None, member_key=None):
        """Read, change the role of (PATCH `{"role"}`) or remove a member. A tenant keeps at least one admin."""
        tenant = self._tenant_for_admin()
        membership = services.membership_get(tenant=tenant, member_key=member_key)
        if request.method == "GET":
            return Response(MembershipSerializer(membership).data)
        if request.method == "DELETE":
            services.membership_remove(user=request.user, membership=membership)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = MembershipRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            user=request.user, membership=membership, role=serializer.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data)


class ProjectViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects in the caller's tenants."""

    queryset = Project.objects.none()  # for the router and the schema; requests read selectors.project_list
    serializer_class = ProjectSerializer
    filterset_class = ProjectFilterSet
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.project_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.project_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.project_update(
            user=self.request.user, project=serializer.instance, **serializer.validated_data
        )
