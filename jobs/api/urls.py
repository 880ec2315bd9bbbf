from core.api.routers import OptionalSlashRouter
from jobs.api.quota_views import ClusterQueueViewSet, LocalQueueViewSet
from jobs.api.sets import ClusterSetViewSet
from jobs.api.views import ClusterViewSet, JobViewSet

router = OptionalSlashRouter()
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("cluster-sets", ClusterSetViewSet, basename="cluster-set")
router.register(r"clusters/(?P<cluster_id>[0-9a-fA-F-]{36})/jobs", JobViewSet, basename="cluster-job")
router.register("cluster-queues", ClusterQueueViewSet, basename="cluster-queue")
router.register("local-queues", LocalQueueViewSet, basename="local-queue")

urlpatterns = router.urls
