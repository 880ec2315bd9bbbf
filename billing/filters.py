import django_filters

from billing.models import Invoice


class InvoiceFilterSet(django_filters.FilterSet):
    """`tenant_id`, `status` (multiple), `month` (any day of it), `month_after` / `month_before` (inclusive)."""

    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    status = django_filters.MultipleChoiceFilter(choices=Invoice.Status.choices)
    month = django_filters.DateFilter(method="filter_month", help_text="Any day of the month billed (YYYY-MM-DD).")
    month_after = django_filters.DateFilter(field_name="month", lookup_expr="gte")
    month_before = django_filters.DateFilter(field_name="month", lookup_expr="lte")

    class Meta:
        model = Invoice
        fields = []

    def filter_month(self, queryset, name, value):
        return queryset.filter(month=value.replace(day=1))
