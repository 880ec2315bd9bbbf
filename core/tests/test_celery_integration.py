import pytest

from core.tasks import ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_task_round_trips_through_a_real_worker(celery_worker_process):
    assert ping.delay("hello").get(timeout=30) == "hello"
    assert celery_worker_process.poll() is None
