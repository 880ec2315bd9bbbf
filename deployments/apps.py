from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Deployments of templates onto clusters, and the reconciler that drives them."""

    name = "deployments"
    verbose_name = "Deployments"
