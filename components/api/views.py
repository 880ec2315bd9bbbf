from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action

from components import selectors
from components.api.serializers import ComponentDefinitionSerializer
from components.filters import ComponentFilterSet


class ComponentViewSet(viewsets.ReadOnlyModelViewSet):
    """The component registry (read-only: system components change by pull request, curation is in the admin).

    Every authenticated user sees the same catalogue. `{id}` also accepts an alias (e.g. `vllm-endpoint`). Lists
    hide deactivated components unless `is_active=false`; the detail still answers them (deployments name them),
    with `is_active: false`."""

    serializer_class = ComponentDefinitionSerializer
    filterset_class = ComponentFilterSet
    ordering_fields = ["id", "name", "category", "created_at"]
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.component_list(include_inactive=True)  # the `is_active` filter defaults to true

    def get_object(self):
        return selectors.component_get(ref=self.kwargs[self.lookup_url_kwarg or self.lookup_field])

    @extend_schema(
        summary="Search components by category, tags, deployment type and text",
        responses=ComponentDefinitionSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def search(self, request):
        return self.list(request)
