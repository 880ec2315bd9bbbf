import factory

from templates_app.models import UseCaseTemplate
from tenancy.tests.factories import TenantFactory


def chatbot_components() -> list[dict]:
    return [
        {"id": "llm", "component_ref": "vllm-endpoint", "model_id": "{{ parameters.model_id }}"},
        {"id": "ui", "component_ref": "chat-ui", "env": {"BACKEND_URL": "{{ components['llm'].outputs.url }}"}},
    ]


class UserTemplateFactory(factory.django.DjangoModelFactory):
    """A tenant's template (content not validated: use the services for that)."""

    class Meta:
        model = UseCaseTemplate

    tenant = factory.SubFactory(TenantFactory)
    slug = factory.Sequence(lambda n: f"my-template-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    category = UseCaseTemplate.Category.CHATBOT
    version = "1.0.0"
    is_system = False
    parameters = factory.LazyFunction(lambda: [{"name": "model_id", "type": "model_ref", "required": True}])
    components = factory.LazyFunction(chatbot_components)
