import pytest

from core.tasks import ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_task_round_trips_through_a_real_worker(celery_worker_process):
    assert ping.delay("hello").get(timeout=30) == "hello"
    assert celery_worker_process.poll() is None


def test_worker_log_is_written_under_var_dir(celery_worker_process, settings):
    from pathlib import Path

    # VAR_DIR may point outside the checkout (CI, parallel runs): the worker's log goes there, not into ./var.
    assert celery_worker_process.log_path.parent == Path(settings.VAR_DIR)
    assert "ready" in celery_worker_process.log_path.read_text()
