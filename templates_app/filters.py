import django_filters
from django.db.models import Q

from components.filters import ActiveFilter, TagsFilter
from core.filters import CreatedRangeFilterSet
from templates_app.models import UseCaseTemplate


class TemplateFilterSet(CreatedRangeFilterSet):
    category = django_filters.MultipleChoiceFilter(choices=UseCaseTemplate.Category.choices)
    complexity = django_filters.MultipleChoiceFilter(choices=UseCaseTemplate.Complexity.choices)
    tags = TagsFilter(help_text="Comma-separated; every tag must match.")
    is_system = django_filters.BooleanFilter()
    is_active = ActiveFilter(help_text="Default true; false lists the deactivated (pruned) system templates.")
    tenant_id = django_filters.UUIDFilter(field_name="tenant_id")
    q = django_filters.CharFilter(method="filter_text", help_text="Text in id, name, description or tags.")
    text = django_filters.CharFilter(method="filter_text", help_text="Same as q.")

    class Meta:
        model = UseCaseTemplate
        fields = []

    def filter_text(self, queryset, name, value):
        return queryset.filter(
            Q(slug__icontains=value)
            | Q(name__icontains=value)
            | Q(description__icontains=value)
            | Q(tags_text__icontains=value)
        )
