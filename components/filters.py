import django_filters
from django.db.models import Q

from components.models import ComponentDefinition
from core.filters import CreatedRangeFilterSet


class TagsFilter(django_filters.CharFilter):
    """`tags=a,b`: rows carrying every listed tag (matched against the denormalised ",a,b," column)."""

    def filter(self, qs, value):
        for tag in [t.strip().lower() for t in (value or "").split(",") if t.strip()]:
            qs = qs.filter(tags_text__icontains=f",{tag},")
        return qs


class ActiveFilter(django_filters.BooleanFilter):
    """`is_active`, true unless given: deactivated (pruned) rows leave lists but stay listable with false."""

    def filter(self, qs, value):
        return super().filter(qs, True if value is None else value)


class ComponentFilterSet(CreatedRangeFilterSet):
    category = django_filters.MultipleChoiceFilter(choices=ComponentDefinition.Category.choices)
    deployment_type = django_filters.MultipleChoiceFilter(choices=ComponentDefinition.DeploymentType.choices)
    tags = TagsFilter(help_text="Comma-separated; every tag must match.")
    is_active = ActiveFilter(help_text="Default true; false lists the deactivated (pruned) components.")
    q = django_filters.CharFilter(method="filter_text", help_text="Text in id, name, description, tags or aliases.")
    text = django_filters.CharFilter(method="filter_text", help_text="Same as q.")

    class Meta:
        model = ComponentDefinition
        fields = []

    def filter_text(self, queryset, name, value):
        return queryset.filter(
            Q(id__icontains=value)
            | Q(name__icontains=value)
            | Q(description__icontains=value)
            | Q(tags_text__icontains=value)
        )
