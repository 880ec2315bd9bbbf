"""The Celery application: configured from Django settings (CELERY_*), tasks discovered in each app."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# filesystem:// (the embedded default's broker) is kombu's filesystem transport with whole messages only
# (core.broker: kombu's own can hand a worker a file still being written, which kills the worker's consumer).
TRANSPORT_ALIASES["filesystem"] = "core.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("usecase_foundry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
