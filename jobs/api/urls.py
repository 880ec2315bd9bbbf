from core.api.routers import OptionalSlashRouter
from jobs.api.views import ClusterViewSet, JobViewSet

router = OptionalSlashRouter()
router.register("clusters", ClusterViewSet, basename="cluster")
router.register(r"clusters/(?P<cluster_id>[0-9a-fA-F-]{36})/jobs", JobViewSet, basename="cluster-job")

urlpatterns = router.urls
