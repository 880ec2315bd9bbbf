from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Metering of what jobs ran, minute by minute, priced by the cluster's price list in effect at the time."""

    name = "billing"
    verbose_name = "Billing"
