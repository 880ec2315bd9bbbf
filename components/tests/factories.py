import factory

from components.models import ComponentDefinition


class ComponentDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ComponentDefinition

    id = factory.Sequence(lambda n: f"component-{n}")
    name = factory.LazyAttribute(lambda o: o.id.title())
    category = ComponentDefinition.Category.TOOL
    version = "1.0.0"
    deployment_type = ComponentDefinition.DeploymentType.DOCKER
    image = "example/image"
    image_tag = "1.0"
    port = 8080
    outputs = factory.LazyFunction(lambda: [{"name": "url", "protocol": "http", "port": 8080}])
