from billing.api.views import InvoiceViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")

urlpatterns = router.urls
