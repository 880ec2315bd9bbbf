from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Clusters, jobs and cluster drivers: the stand-in for a cluster manager."""

    name = "jobs"
    verbose_name = "Jobs and clusters"
