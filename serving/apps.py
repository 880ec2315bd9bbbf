from django.apps import AppConfig


class ServingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "serving"
    verbose_name = "Serving (endpoints, keys, gateway)"

    def ready(self) -> None:
        from observability.exposition import register_collector
        from serving.exposition import EndpointQueueCollector

        register_collector(EndpointQueueCollector)
