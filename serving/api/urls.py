from django.urls import path

from core.api.routers import OptionalSlashRouter
from serving.api.views import DeploymentKeyViewSet, EndpointQueueView

router = OptionalSlashRouter()
router.register(
    r"deployments/(?P<deployment_id>[0-9a-fA-F-]{36})/keys", DeploymentKeyViewSet, basename="deployment-key"
)

urlpatterns = [
    path(
        "deployments/<uuid:deployment_id>/queue",
        EndpointQueueView.as_view(),
        name="deployment-queue",
    ),
    *router.urls,
]
