from core.api.routers import OptionalSlashRouter
from serving.api.views import DeploymentKeyViewSet

router = OptionalSlashRouter()
router.register(
    r"deployments/(?P<deployment_id>[0-9a-fA-F-]{36})/keys", DeploymentKeyViewSet, basename="deployment-key"
)

urlpatterns = router.urls
