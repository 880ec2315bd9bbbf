from autoscaling.api.views import DeploymentAutoscalingViewSet, WarmPoolViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("deployments", DeploymentAutoscalingViewSet, basename="deployment-autoscaling")
router.register("warm-pools", WarmPoolViewSet, basename="warm-pool")

urlpatterns = router.urls
