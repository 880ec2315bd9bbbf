from core.api.routers import OptionalSlashRouter
from observability.api.alert_views import AlertRuleViewSet, AlertViewSet, NotificationChannelViewSet
from observability.api.views import DeploymentObservabilityViewSet

router = OptionalSlashRouter()
router.register("deployments", DeploymentObservabilityViewSet, basename="deployment-observability")
router.register("alerts", AlertViewSet, basename="alert")
router.register("alert-rules", AlertRuleViewSet, basename="alert-rule")
router.register("notification-channels", NotificationChannelViewSet, basename="notification-channel")

urlpatterns = router.urls
