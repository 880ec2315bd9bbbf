"""Tasks that prove the task queue works end to end."""

from celery import shared_task


@shared_task(name="core.ping")
def ping(value: str = "pong") -> str:
    """Echo a value back: the round trip the integration test and health tooling use."""
    return value
