from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.api.pagination import LimitOffsetPagination
from core.exceptions import NotFound
from core.renderers import RenderedJSONRenderer
from usecases import selectors, services
from usecases.api.pagination import CatalogPagination, SearchPagination
from usecases.api.permissions import CatalogPermission
from usecases.api.serializers import (
    ExportRequestSerializer,
    ExportSerializer,
    ImportReportSerializer,
    ImportRequestSerializer,
    IndustryCountSerializer,
    StatsSerializer,
    TagCountSerializer,
    UseCaseSerializer,
    UseCaseVersionSerializer,
    usecase_rows_data,
)
from usecases.filters import SORT_FIELDS, UseCaseFilterSet
from usecases.models import UseCase
from usecases.validation import TRUE_STRINGS


def _flag(request, name: str) -> bool:
    return str(request.query_params.get(name, "")).lower() in TRUE_STRINGS


# The project's other renderers (the browsable API) after the one that passes a written page on.
ALSO_RENDERED = [renderer for renderer in api_settings.DEFAULT_RENDERER_CLASSES if renderer is not JSONRenderer]
HARD = OpenApiParameter("hard", bool, description="Delete the row and its history instead of soft-deleting.")
INCLUDE_INACTIVE = OpenApiParameter("include_inactive", bool, description="Also find a soft-deleted use case.")
VERSION = OpenApiParameter("version", int, OpenApiParameter.PATH)
UNIQUE_ID = OpenApiParameter("unique_id", str, OpenApiParameter.PATH, description="The use case's unique_id.")


@extend_schema_view(
    list=extend_schema(summary="List use cases (the search filters, paginated by 50)"),
    create=extend_schema(summary="Add a usecase"),
    retrieve=extend_schema(summary="Get a use case (cached)", parameters=[UNIQUE_ID, INCLUDE_INACTIVE]),
    update=extend_schema(summary="Replace a use case (records a version)", parameters=[UNIQUE_ID]),
    partial_update=extend_schema(summary="Change some fields (records a version)", parameters=[UNIQUE_ID]),
    destroy=extend_schema(summary="Soft-delete a use case (hard with ?hard=true)", parameters=[UNIQUE_ID, HARD]),
)
class UseCaseViewSet(viewsets.ModelViewSet):
    """The SLO catalog, shared by all tenants: everyone signed in reads; curators (model permissions) write."""

    queryset = UseCase.objects.all()
    serializer_class = UseCaseSerializer
    filterset_class = UseCaseFilterSet
    pagination_class = CatalogPagination
    permission_classes = [CatalogPermission]
    renderer_classes = [RenderedJSONRenderer, *ALSO_RENDERED]  # the search page may come already written
    lookup_field = "unique_id"
    lookup_value_regex = r"[A-Za-z0-9_-]+"
    ordering_fields = SORT_FIELDS
    expensive_actions = {"import_usecases"}  # the stricter rate limit (security.throttling)
    read_only_actions = {"export"}  # a POST that writes nothing: read-only tokens may call it

    def get_queryset(self):
        return selectors.usecase_queryset(include_inactive=True)

    def get_object(self):
        unique_id = self.kwargs["unique_id"]
        if self.action == "retrieve":
            # Hot path: served from the cache (selectors.usecase_get) without a query when it can be.
            return selectors.usecase_get(unique_id=unique_id, include_inactive=_flag(self.request, "include_inactive"))
        include_inactive = self.action in {"undelete", "versions", "version", "restore"} or (
            self.action == "destroy" and _flag(self.request, "hard")
        )
        # Writes read the row itself, never a cached copy.
        usecase = selectors.usecase_queryset(include_inactive=include_inactive).filter(unique_id=unique_id).first()
        if usecase is None:
            raise NotFound(f"Use case {unique_id!r} does not exist.")
        self.check_object_permissions(self.request, usecase)
        return usecase

    def list(self, request, *args, **kwargs):
        # On PostgreSQL the page comes back as JSON text (usecases.api.rendering), passed on as bytes; elsewhere as
        # plain rows (selectors.usecase_search_page), serialised without a serializer per row.
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        if page.rows_json is not None:
            return self.paginator.get_written_response(page.rows_json)
        return self.get_paginated_response(usecase_rows_data(page.rows))

    def perform_create(self, serializer):
        serializer.instance = services.usecase_create(data=serializer.validated_data, user=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.usecase_update(
            usecase=serializer.instance,
            data=serializer.validated_data,
            partial=serializer.partial,
            user=self.request.user,
        )

    def perform_destroy(self, instance):
        services.usecase_delete(usecase=instance, hard=_flag(self.request, "hard"))

    @extend_schema(summary="Search usecases", responses=UseCaseSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=SearchPagination)
    def search(self, request):
        """Text (q), industry, tags (all, or any with tags_mode=any), token and latency ranges (overlap),
        profiles, sort_by/sort_order; limit 1-1000 (default 100) and offset."""
        return self.list(request)

    @extend_schema(summary="Catalog statistics", responses=StatsSerializer)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def stats(self, request):
        return Response(selectors.usecase_stats())

    @extend_schema(summary="Industries with use case counts", responses=IndustryCountSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="industries/list", filter_backends=[], pagination_class=None)
    def industries(self, request):
        return Response(selectors.industry_list())

    @extend_schema(summary="Tags with use case counts", responses=TagCountSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="tags/list", filter_backends=[], pagination_class=None)
    def tags(self, request):
        return Response(selectors.tag_list())

    @extend_schema(
        summary="Import use cases (upsert by unique_id)",
        request=ImportRequestSerializer,
        parameters=[
            OpenApiParameter("partial", bool, description="Import the valid entries, report the others."),
            OpenApiParameter("dry_run", bool, description="Report what would change; write nothing."),
        ],
        responses={
            200: ImportReportSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="{detail, errors, report}; nothing written."),
        },
    )
    @action(detail=False, methods=["post"], url_path="import", filter_backends=[], pagination_class=None)
    def import_usecases(self, request):
        try:
            report = services.usecases_import(
                data=request.data,
                partial=_flag(request, "partial"),
                dry_run=_flag(request, "dry_run"),
                user=request.user,
            )
        except services.ImportRejected as exc:
            body = {"detail": exc.detail, "errors": exc.errors, "report": exc.report}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(report)

    @extend_schema(
        summary="Export use cases (the filtered set, in the import format)",
        request=ExportRequestSerializer,
        responses=ExportSerializer,
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def export(self, request):
        params = QueryDict(mutable=True)
        params.update(request.query_params)
        if request.data and not isinstance(request.data, dict):
            raise DRFValidationError({"non_field_errors": ["The body is an object of search filters."]})
        known = set(UseCaseFilterSet.base_filters) | {"format"}
        unknown = sorted({*request.query_params, *(request.data or {})} - known)
        if unknown:
            raise DRFValidationError({name: ["Unknown filter."] for name in unknown})
        if isinstance(request.data, dict):
            for key, value in request.data.items():
                params.setlist(key, [str(item) for item in value] if isinstance(value, list) else [str(value)])
        filterset = UseCaseFilterSet(params, queryset=self.get_queryset(), request=request)
        if not filterset.is_valid():
            raise DRFValidationError(filterset.errors)
        return Response(selectors.usecases_export(queryset=filterset.qs))

    @extend_schema(summary="Versions of a use case, newest first", responses=UseCaseVersionSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        serializer_class=UseCaseVersionSerializer,
        pagination_class=LimitOffsetPagination,
    )
    def versions(self, request, unique_id=None):
        page = self.paginate_queryset(selectors.usecase_versions(usecase=self.get_object()))
        return self.get_paginated_response(UseCaseVersionSerializer(page, many=True).data)

    @extend_schema(summary="One version of a usecase", parameters=[VERSION], responses=UseCaseVersionSerializer)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<version>[0-9]+)", filter_backends=[])
    def version(self, request, unique_id=None, version=None):
        found = selectors.usecase_version_get(usecase=self.get_object(), version=int(version))
        return Response(UseCaseVersionSerializer(found).data)

    @extend_schema(
        summary="Restore a version (recorded as a new version)",
        parameters=[VERSION],
        request=None,
        responses=UseCaseSerializer,
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<version>[0-9]+)/restore", filter_backends=[])
    def restore(self, request, unique_id=None, version=None):
        usecase = services.usecase_restore_version(usecase=self.get_object(), version=int(version), user=request.user)
        return Response(UseCaseSerializer(usecase).data)

    @extend_schema(summary="Undelete a soft-deleted usecase", request=None, responses=UseCaseSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def undelete(self, request, unique_id=None):
        usecase = services.usecase_undelete(usecase=self.get_object())
        return Response(UseCaseSerializer(usecase).data)
