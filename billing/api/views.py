from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from billing import invoices
from billing.api.serializers import (
    AdjustmentSerializer,
    InvoiceDetailSerializer,
    InvoiceLineSerializer,
    InvoiceSerializer,
)
from billing.filters import InvoiceFilterSet
from billing.invoice_pdf import invoice_pdf
from billing.models import Invoice, InvoiceLine
from billing.selectors import invoice_can_adjust, invoice_csv, invoice_list
from core.exceptions import PermissionDenied
from sizing.api.serializers import ErrorSerializer

NOT_FOUND = {404: OpenApiResponse(description="No such invoice in your tenants.")}


@extend_schema_view(
    list=extend_schema(responses={200: InvoiceSerializer(many=True)}),
    retrieve=extend_schema(responses={200: InvoiceDetailSerializer, **NOT_FOUND}),
)
class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Monthly invoices of the caller's tenants: drafts that follow metering during the month, then final ones."""

    permission_classes = [IsAuthenticated]
    filterset_class = InvoiceFilterSet
    ordering_fields = ["month", "total"]
    queryset = Invoice.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        queryset = invoice_list(user=self.request.user)
        return _with_lines(queryset) if self.action == "retrieve" else queryset

    def get_serializer_class(self):
        return InvoiceDetailSerializer if self.action == "retrieve" else InvoiceSerializer

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, a line a row."), **NOT_FOUND}
    )
    @action(detail=True, methods=["get"], url_path="csv", pagination_class=None, filterset_class=None)
    def csv(self, request, pk=None):
        """The invoice as CSV (its lines, then the total)."""
        invoice = self.get_object()
        response = HttpResponse(invoice_csv(invoice=invoice), content_type="text/csv")
        name = invoice.number or f"draft-{invoice.month:%Y-%m}"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice as a PDF."),
            **NOT_FOUND,
        }
    )
    @action(detail=True, methods=["get"], url_path="pdf", pagination_class=None, filterset_class=None)
    def pdf(self, request, pk=None):
        """The invoice as a PDF: its lines, adjustments with who and why, totals, number and checksum."""
        invoice = self.get_object()
        response = HttpResponse(invoice_pdf(invoice=invoice), content_type="application/pdf")
        name = invoice.number or f"draft-{invoice.month:%Y-%m}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    @extend_schema(
        request=AdjustmentSerializer,
        responses={
            201: InvoiceLineSerializer,
            400: OpenApiResponse(description="Field errors: amount (whole cents, non-zero), reason, project_id."),
            403: OpenApiResponse(description="Only the tenant's admins adjust its invoices."),
            409: OpenApiResponse(description="The invoice is final."),
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], url_path="adjustments", filterset_class=None)
    def adjustments(self, request, pk=None):
        """Add a credit (negative) or charge to a draft, with the reason; recorded with who added it."""
        invoice = self.get_object()
        if not invoice_can_adjust(user=request.user, invoice=invoice):
            raise PermissionDenied("Only the tenant's admins adjust its invoices.")
        serializer = AdjustmentSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        line = invoices.invoice_adjustment_add(user=request.user, invoice=invoice, **serializer.validated_data)
        return Response(InvoiceLineSerializer(line).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            200: InvoiceDetailSerializer,
            403: OpenApiResponse(ErrorSerializer, description="Only the tenant's admins finalise its invoices."),
            409: OpenApiResponse(
                ErrorSerializer,
                description="The invoice is already final (finalising is not repeated), or its month is not over.",
            ),
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], url_path="finalise", pagination_class=None, filterset_class=None)
    def finalise(self, request, pk=None):
        """Finalise a draft whose month is over, as the console's Finalise button does: rebuilt from metering one last
        time, numbered, sealed with a checksum, immutable from then on. A final invoice answers 409, not a replay."""
        invoice = self.get_object()
        invoice = invoices.invoice_finalise(invoice=invoice, user=request.user)
        return Response(InvoiceDetailSerializer(_with_lines(invoice_list(user=request.user)).get(pk=invoice.pk)).data)


def _with_lines(queryset):
    """Invoices with their lines (and who added each adjustment) in one more query, as the detail shows them."""
    lines = InvoiceLine.objects.select_related("created_by").order_by("kind", "project_id", "pk")
    return queryset.prefetch_related(Prefetch("lines", queryset=lines))
