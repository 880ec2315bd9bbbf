from autoscaling.api.views import DeploymentAutoscalingViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("deployments", DeploymentAutoscalingViewSet, basename="deployment-autoscaling")

urlpatterns = router.urls
