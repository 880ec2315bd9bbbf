from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Deployments of templates onto clusters, and the reconciler that drives them."""

    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from deployments.services.moving import on_cluster_went_away
        from jobs.signals import cluster_went_away

        cluster_went_away.connect(on_cluster_went_away, dispatch_uid="deployments.on_cluster_went_away")
