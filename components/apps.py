from django.apps import AppConfig


class ComponentsConfig(AppConfig):
    """The registry of deployable components."""

    name = "components"
    verbose_name = "Component registry"
