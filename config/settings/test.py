"""Settings for pytest: fast hashing, no DEBUG; DATABASE_URL/REDIS_URL still come from the environment.

Tasks go to their own queue (and, on the filesystem broker, their own folder), so a developer's running
`make run` worker never picks up a test's task, nor a test worker a developer's.
"""

from .base import *  # noqa: F403
from .base import BROKER_DIR, REDIS_URL, VAR_DIR, env, filesystem_broker_options

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="test")
# Tests create deployments and drive their passes themselves (at chosen times); deployments/tests/test_first_pass.py
# turns the product's default (the first pass inside the creating transaction) back on.
DEPLOYMENTS_FIRST_PASS_INLINE = env.bool("DEPLOYMENTS_FIRST_PASS_INLINE", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "test-celerybeat-schedule")
if not REDIS_URL:
    TEST_BROKER_DIR = BROKER_DIR.parent / "test-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(TEST_BROKER_DIR)
    CELERY_RESULT_BACKEND = f"file://{TEST_BROKER_DIR / 'results'}"
CACHES = {
    "default": {
        **CACHES["default"],  # noqa: F405
        "KEY_PREFIX": "uf-test",
    }
}
# High enough that no functional test is throttled; the throttling tests set their own rates (a test's child
# process through the environment).
API_THROTTLE_RATES = {
    "user": env.str("API_RATE_USER", default="100000/minute"),
    "anon": env.str("API_RATE_ANON", default="100000/minute"),
    "expensive": env.str("API_RATE_EXPENSIVE", default="100000/minute"),
}
