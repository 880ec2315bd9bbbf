from core.api.routers import OptionalSlashRouter
from templates_app.api.views import TemplateViewSet

router = OptionalSlashRouter()
router.register("templates", TemplateViewSet, basename="template")

urlpatterns = router.urls
