"""The database itself refuses a range whose minimum is above its maximum, for every range of a use case."""

import pytest
from django.db import IntegrityError, transaction

from usecases.models import RANGE_FIELDS
from usecases.tests.factories import UseCaseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", RANGE_FIELDS)
def test_a_range_with_min_above_max_is_refused_by_the_database(name):
    with pytest.raises(IntegrityError), transaction.atomic():
        UseCaseFactory(**{f"{name}_min": 5, f"{name}_max": 4})


@pytest.mark.parametrize("name", ["batch_size", "beam_size", "ttft", "e2e", "inter_token"])
def test_an_optional_range_may_give_one_end_only(name):
    usecase = UseCaseFactory(**{f"{name}_min": 5, f"{name}_max": None})
    assert getattr(usecase, f"{name}_min") == 5


@pytest.mark.parametrize("name", RANGE_FIELDS)
def test_an_equal_min_and_max_is_a_range(name):
    usecase = UseCaseFactory(**{f"{name}_min": 4, f"{name}_max": 4})
    assert getattr(usecase, f"{name}_max") == 4
