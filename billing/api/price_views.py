"""Price lists: a cluster's prices from an effective moment on (the one way prices change; billing meters by them)."""

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from billing import services
from billing.api.price_serializers import PriceListSerializer
from billing.models import PriceList
from billing.selectors import price_list_list
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedMixin


class PriceListFilterSet(django_filters.FilterSet):
    """`cluster_id`; `effective_after` / `effective_before` (inclusive)."""

    cluster_id = django_filters.UUIDFilter(field_name="cluster_id")
    effective_after = django_filters.IsoDateTimeFilter(field_name="effective_from", lookup_expr="gte")
    effective_before = django_filters.IsoDateTimeFilter(field_name="effective_from", lookup_expr="lte")

    class Meta:
        model = PriceList
        fields = []


@extend_schema_view(
    list=extend_schema(responses={200: PriceListSerializer(many=True)}),
    retrieve=extend_schema(
        responses={200: PriceListSerializer, 404: OpenApiResponse(ErrorSerializer, description="Not in your tenants.")}
    ),
    create=extend_schema(
        responses={
            201: PriceListSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="Field errors: cluster_id, prices (and its paths), effective_from."
            ),
            403: OpenApiResponse(ErrorSerializer, description="Only the tenant's admins change prices."),
        }
    ),
)
class PriceListViewSet(TenantScopedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """A cluster's price history. A new list applies from `effective_from` (a whole minute, not in the past): usage
    before it keeps the older prices. Lists are never edited or deleted: metered usage points at them."""

    serializer_class = PriceListSerializer
    filterset_class = PriceListFilterSet
    ordering_fields = ["effective_from", "created_at"]
    tenant_field = "cluster__tenant"
    queryset = PriceList.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PriceList.objects.none()
        return price_list_list(user=self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.price_list_create(
            user=self.request.user,
            cluster=data["cluster"],
            prices=data["prices"],
            effective_from=data["effective_from"],
        )
