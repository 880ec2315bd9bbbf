from core.api.routers import OptionalSlashRouter
from usecases.api.views import UseCaseViewSet

router = OptionalSlashRouter()
router.register("usecases", UseCaseViewSet, basename="usecase")

urlpatterns = router.urls
