from audit.api.views import AuditEventViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("audit", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
