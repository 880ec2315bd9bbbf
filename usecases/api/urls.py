from core.api.routers import OptionalSlashRouter
from usecases.api.views import UsecaseViewSet

router = OptionalSlashRouter()
router.register("usecases", UsecaseViewSet, basename="usecase")

urlpatterns = router.urls
