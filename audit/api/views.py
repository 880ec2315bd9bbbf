from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission

from audit.api.serializers import AuditEventSerializer
from audit.exports import audit_csv_response
from audit.filters import AuditEventFilterSet
from audit.models import AuditEvent
from audit.selectors import audit_can_read, audit_event_list

FROM = OpenApiParameter("from", OpenApiTypes.DATETIME, description="Events at or after this time (ISO 8601).")
FORBIDDEN = {403: OpenApiResponse(description="Only tenant admins and superusers read the audit trail.")}


class AuditReader(BasePermission):
    message = "Only tenant admins and superusers read the audit trail."

    def has_permission(self, request, view) -> bool:
        return audit_can_read(request.user)


@extend_schema_view(
    list=extend_schema(parameters=[FROM], responses={200: AuditEventSerializer(many=True), **FORBIDDEN}),
    retrieve=extend_schema(responses={200: AuditEventSerializer, **FORBIDDEN}),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Who changed what, when and from where: tenant admins read their tenants' events, superusers all.

    Read only: the trail cannot be changed or deleted through the product.
    """

    serializer_class = AuditEventSerializer
    permission_classes = [AuditReader]
    filterset_class = AuditEventFilterSet
    ordering_fields = ["at", "id"]
    queryset = AuditEvent.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return audit_event_list(user=self.request.user)

    @extend_schema(
        parameters=[FROM],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one event a row."),
            **FORBIDDEN,
        },
    )
    @action(detail=False, methods=["get"], url_path="export", pagination_class=None)
    def export(self, request):
        """The filtered trail as CSV (every matching event, oldest first), for archiving or a SIEM."""
        queryset = self.filter_queryset(self.get_queryset()).order_by("at", "id")
        return audit_csv_response(queryset)
