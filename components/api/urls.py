from components.api.views import ComponentViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("components", ComponentViewSet, basename="component")

urlpatterns = router.urls
