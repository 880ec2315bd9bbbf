import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from billing import budget_services
from billing.api.budget_serializers import BudgetSerializer
from billing.budgets import budget_list, budget_statuses
from billing.models import Budget, BudgetAlert
from sizing.api.serializers import ErrorSerializer
from tenancy.api.viewsets import TenantScopedViewSet

NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such budget in your tenants.")}
WRITE_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Field errors: tenant_id, project_id, name, amount."),
    403: OpenApiResponse(ErrorSerializer, description="Viewers cannot change budgets."),
}


class BudgetFilterSet(django_filters.FilterSet):
    """`tenant_id`, `project_id`, `hard_cap`; `tenant_wide=true` for the budgets of whole tenants."""

    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    project_id = django_filters.UUIDFilter(field_name="project_id")
    hard_cap = django_filters.BooleanFilter()
    tenant_wide = django_filters.BooleanFilter(field_name="project", lookup_expr="isnull")

    class Meta:
        model = Budget
        fields = []


@extend_schema_view(
    list=extend_schema(responses={200: BudgetSerializer(many=True)}),
    retrieve=extend_schema(responses={200: BudgetSerializer, **NOT_FOUND}),
    create=extend_schema(responses={201: BudgetSerializer, **WRITE_ERRORS}),
    update=extend_schema(responses={200: BudgetSerializer, **WRITE_ERRORS, **NOT_FOUND}),
    partial_update=extend_schema(responses={200: BudgetSerializer, **WRITE_ERRORS, **NOT_FOUND}),
    destroy=extend_schema(responses={204: None, 403: WRITE_ERRORS[403], **NOT_FOUND}),
)
class BudgetViewSet(TenantScopedViewSet):
    """Monthly budgets of projects or whole tenants: this month's spend, burn rate and forecast, the alerts fired."""

    serializer_class = BudgetSerializer
    filterset_class = BudgetFilterSet
    ordering_fields = ["name", "amount", "created_at"]
    queryset = Budget.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Budget.objects.none()
        alerts = BudgetAlert.objects.order_by("-fired_at")
        return budget_list(user=self.request.user).prefetch_related(Prefetch("alerts", queryset=alerts))

    def get_serializer(self, *args, **kwargs):
        instance = args[0] if args else None
        if instance is not None:
            budgets = list(instance) if isinstance(instance, list | tuple) else [instance]
            kwargs.setdefault("context", self.get_serializer_context())["statuses"] = budget_statuses(budgets)
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = budget_services.budget_create(
            user=self.request.user,
            tenant=data["tenant"],
            project=data.get("project"),
            name=data["name"],
            amount=data["amount"],
            hard_cap=data.get("hard_cap", False),
        )
        serializer.context["statuses"] = budget_statuses([serializer.instance])

    def perform_update(self, serializer):
        changes = dict(serializer.validated_data)
        changes.pop("tenant", None)
        serializer.instance = budget_services.budget_update(
            user=self.request.user, budget=serializer.instance, **changes
        )

    def perform_destroy(self, instance):
        budget_services.budget_delete(user=self.request.user, budget=instance)
