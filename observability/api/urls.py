from core.api.routers import OptionalSlashRouter
from observability.api.views import DeploymentObservabilityViewSet

router = OptionalSlashRouter()
router.register("deployments", DeploymentObservabilityViewSet, basename="deployment-observability")

urlpatterns = router.urls
