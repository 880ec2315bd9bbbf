from core.api.routers import OptionalSlashRouter
from tenancy.api.views import ProjectViewSet, TenantViewSet

router = OptionalSlashRouter()
router.register("tenants", TenantViewSet, basename="tenant")
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = router.urls
