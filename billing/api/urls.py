from django.urls import re_path

from billing.api.cost_views import CostView
from billing.api.views import InvoiceViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")

urlpatterns = [
    re_path(r"^costs/?$", CostView.as_view(), name="costs"),
    re_path(r"^costs\.(?P<format>csv)$", CostView.as_view(), name="costs-csv"),
    *router.urls,
]
