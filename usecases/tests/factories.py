import factory
from django.contrib.auth.models import Permission

from tenancy.tests.factories import UserFactory
from usecases import services
from usecases.models import UseCase, UseCaseTag


class UseCaseFactory(factory.django.DjangoModelFactory):
    """A use case row written directly (no version); use `usecase_data` + services for versioned ones."""

    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    unique_id = factory.Sequence(lambda n: f"uc_{n:04d}")
    name = factory.Sequence(lambda n: f"Usecase {n:04d}")
    industry = "Healthcare"
    description = "Summarise a patient record for a clinician."
    input_tokens_min = 500
    input_tokens_max = 2000
    output_tokens_min = 100
    output_tokens_max = 300
    ttft_min = 0.5
    ttft_max = 1.0
    e2e_min = 2.0
    e2e_max = 4.0
    inter_token_min = 0.02
    inter_token_max = 0.05

    @factory.post_generation
    def tags(obj, create, extracted, **kwargs):
        if create and extracted:
            UseCaseTag.objects.bulk_create([UseCaseTag(usecase=obj, name=name) for name in extracted])


def usecase_data(**overrides) -> dict:
    """A valid create payload (the product document's example plus SLOs)."""
    data = {
        "unique_id": "healthcare_001",
        "name": "Patient Summarization",
        "industry": "Healthcare",
        "description": "Summarise a patient's history for the clinician.",
        "input_tokens_min": 1000,
        "input_tokens_max": 2000,
        "output_tokens_min": 100,
        "output_tokens_max": 200,
        "ttft_min": 1.0,
        "ttft_max": 2.0,
        "e2e_min": 4.0,
        "e2e_max": 6.0,
        "tags": ["medical", "nlp"],
    }
    data.update(overrides)
    return data


def make_usecase(**overrides) -> UseCase:
    return services.usecase_create(data=usecase_data(**overrides))


def curator(username: str = "carla-curator", perms=("add", "change", "delete")):
    user = UserFactory(username=username)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="usecases", codename__in=[f"{p}_usecase" for p in perms])
    )
    return type(user).objects.get(pk=user.pk)  # a fresh instance: permission caches are per instance
