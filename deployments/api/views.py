from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.exceptions import NotFound, ServiceError, ValidationError
from deployments import selectors, services
from deployments.api.serializers import (
    ChangePlanSerializer,
    ComponentDetailSerializer,
    DeploymentChangeSerializer,
    DeploymentCreateSerializer,
    DeploymentEventSerializer,
    DeploymentPreviewSerializer,
    DeploymentRevisionSerializer,
    DeploymentRollbackSerializer,
    DeploymentScaleSerializer,
    DeploymentSerializer,
    DeploymentUpdateSerializer,
)
from deployments.filters import DeploymentFilterSet
from deployments.models import UseCaseDeployment
from templates_app.selectors import template_get_for_user
from tenancy.api.viewsets import TenantScopedMixin


def _resolve_create_body(request) -> dict:
    serializer = DeploymentCreateSerializer(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        template = template_get_for_user(user=request.user, template_id=data["template_id"])
    except NotFound:
        raise ValidationError({"template_id": [f"Unknown template {data['template_id']!r}."]}) from None
    return {
        "template": template,
        "project": data["project_id"],
        "cluster": data.get("cluster_id"),
        "cluster_set": data.get("cluster_set_id"),
        "strategy": data.get("strategy"),
        "parameters": data.get("parameters", {}),
        "name": data.get("name", ""),
        "usecase_id": data.get("usecase_id", ""),
        "load": data.get("load") or None,
    }


class DeploymentViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Use case deployments: a template deployed onto a cluster, one job per component in dependency order."""

    queryset = UseCaseDeployment.objects.none()  # for the router and the schema; requests read the selector
    serializer_class = DeploymentSerializer
    filterset_class = DeploymentFilterSet
    ordering_fields = ["created_at", "name", "status", "updated_at"]
    expensive_actions = {"preview", "plan"}  # resolve and price a whole stack: the stricter rate limit
    read_only_actions = {"preview", "plan"}  # POSTs that write nothing: read-only tokens may call them

    def get_queryset(self):
        return selectors.deployment_list(user=self.request.user)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None and queryset.model is UseCaseDeployment:
            selectors.deployments_cost_so_far(page)  # one query for the page, not one per deployment
        return page

    @extend_schema(
        request=DeploymentCreateSerializer,
        responses={201: DeploymentSerializer, 200: DeploymentSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Retrying a POST with the same key (and the same body, from the same user) returns the "
                "deployment the first one created, with `Idempotent-Replayed: true`; the key with another body is a "
                "422.",
            )
        ],
    )
    def create(self, request):
        """Deploy a template: `{template_id, project_id, cluster_id, name?, parameters}`."""
        body = _resolve_create_body(request)
        deployment, created = services.deployment_create(
            user=request.user, idempotency_key=request.headers.get("Idempotency-Key") or None, **body
        )
        deployment = self.get_queryset().get(pk=deployment.pk)
        response = Response(
            self.get_serializer(deployment).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(responses={202: DeploymentSerializer})
    def destroy(self, request, pk=None):
        """Delete: DELETING now, components stopped dependents-first, then DELETED. Rows and events stay."""
        deployment = self.get_object()
        services.deployment_delete(user=request.user, deployment=deployment)
        return Response(self.get_serializer(self.get_queryset().get(pk=deployment.pk)).data, status=202)

    @extend_schema(responses=ComponentDetailSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def components(self, request, pk=None):
        """The current component deployments with their rendered config and env as deployed."""
        deployment = self.get_object()
        rows = selectors.deployment_components(deployment=deployment)
        for row in rows:
            row.deployment = deployment
        return Response(ComponentDetailSerializer(rows, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only events with an id greater than this.")],
        responses=DeploymentEventSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request, pk=None):
        """The deployment's timeline, oldest first; `?after=<id>` for what is new since the last poll."""
        deployment = self.get_object()
        after = request.query_params.get("after")
        if after not in (None, "") and not str(after).isdigit():
            raise ValidationError({"after": ["A whole number (an event id) is required."]})
        events = selectors.deployment_events(deployment=deployment, after=int(after) if after else None)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(DeploymentEventSerializer(page, many=True).data)

    @extend_schema(request=DeploymentCreateSerializer, responses=DeploymentPreviewSerializer)
    @action(detail=False, methods=["post"], filter_backends=[])
    def preview(self, request):
        """What a deploy would do — plan, waves, GPUs, capacity, hourly cost — with nothing written."""
        body = _resolve_create_body(request)
        body.pop("name")
        preview = services.deployment_preview(user=request.user, **body)
        return Response(DeploymentPreviewSerializer(preview).data)

    def _changed(self, request, deployment, revision) -> Response:
        data = self.get_serializer(self.get_queryset().get(pk=deployment.pk)).data
        return Response({**data, "revision_started": revision.number}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=DeploymentUpdateSerializer, responses={202: DeploymentSerializer})
    def partial_update(self, request, pk=None):
        """Update parameters and/or template version: only what changes is replaced, new-before-old."""
        deployment = self.get_object()
        serializer = DeploymentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revision = services.deployment_update(user=request.user, deployment=deployment, **serializer.validated_data)
        return self._changed(request, deployment, revision)

    @extend_schema(request=DeploymentChangeSerializer, responses=ChangePlanSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def plan(self, request, pk=None):
        """What a change would do (one of parameters / template_version, scale, rollback_to); nothing written."""
        deployment = self.get_object()
        serializer = DeploymentChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = services.deployment_change_plan(
            user=request.user, deployment=deployment, change=dict(serializer.validated_data)
        )
        return Response(ChangePlanSerializer(plan).data)

    @extend_schema(request=DeploymentScaleSerializer, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def scale(self, request, pk=None):
        """Replicas (and optionally resources) per component; other components are not touched."""
        deployment = self.get_object()
        serializer = DeploymentScaleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revision = services.deployment_scale(
            user=request.user, deployment=deployment, scale=serializer.validated_data["scale"]
        )
        return self._changed(request, deployment, revision)

    @extend_schema(request=DeploymentRollbackSerializer, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def rollback(self, request, pk=None):
        """Back to revision N's parameters, template version and scale (only what differs is replaced)."""
        deployment = self.get_object()
        serializer = DeploymentRollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            revision = services.deployment_rollback(
                user=request.user, deployment=deployment, revision=serializer.validated_data["revision"]
            )
        except ServiceError as error:  # the service's name for it is rollback_to; the client sent `revision`
            error.errors = {"revision" if k == "rollback_to" else k: v for k, v in error.errors.items()}
            raise
        return self._changed(request, deployment, revision)

    @extend_schema(request=None, responses={200: DeploymentSerializer})
    @action(detail=True, methods=["post"], url_path="cancel-change", filter_backends=[])
    def cancel_change(self, request, pk=None):
        """Cancel the change rolling out: its new parts stop; the revision running now serves on unchanged."""
        deployment = self.get_object()
        revision = services.deployment_cancel_change(user=request.user, deployment=deployment)
        data = self.get_serializer(self.get_queryset().get(pk=deployment.pk)).data
        return Response({**data, "revision_cancelled": revision.number})

    @extend_schema(responses=DeploymentRevisionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def revisions(self, request, pk=None):
        """Every change to the deployment, numbered, oldest first."""
        deployment = self.get_object()
        page = self.paginate_queryset(deployment.revisions.select_related("created_by").order_by("number"))
        return self.get_paginated_response(DeploymentRevisionSerializer(page, many=True).data)
