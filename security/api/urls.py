from core.api.routers import OptionalSlashRouter
from security.api.views import ApiTokenViewSet, ServiceAccountViewSet

router = OptionalSlashRouter()
router.register("tokens", ApiTokenViewSet, basename="api-token")
router.register("service-accounts", ServiceAccountViewSet, basename="service-account")

urlpatterns = router.urls
