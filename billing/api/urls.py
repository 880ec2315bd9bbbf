from django.urls import re_path

from billing.api.budget_views import BudgetViewSet
from billing.api.cost_views import CostView
from billing.api.price_views import PriceListViewSet
from billing.api.views import InvoiceViewSet
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("price-lists", PriceListViewSet, basename="price-list")

urlpatterns = [
    re_path(r"^costs/?$", CostView.as_view(), name="costs"),
    re_path(r"^costs\.(?P<format>csv)$", CostView.as_view(), name="costs-csv"),
    *router.urls,
]
