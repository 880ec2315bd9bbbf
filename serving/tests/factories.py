"""Factories for serving tests: a running deployment with a key, and requests sent through the gateway."""

from __future__ import annotations

from django.test import Client

from deployments.tests.factories import deploy
from serving import services


def running_with_key(*, user, project, cluster, name: str = "my-rag", rate_limit: int | None = None):
    """A simple-rag-v1 deployment brought up on a zero start-up cluster, and a key for it: (deployment, key, secret)."""
    deployment = deploy(user=user, project=project, cluster=cluster, name=name, run=True)
    assert deployment.status == "RUNNING", deployment.status_message
    key, secret = services.key_create(user=user, deployment=deployment, name="ci", rate_limit=rate_limit)
    return deployment, key, secret


def send(slug: str, secret: str | None, path: str = "v1/chat", *, body: bytes = b'{"q": "hi"}', client=None):
    """POST through the gateway as an outside client would (a plain HTTP client: no session, no API token)."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    return (client or Client()).post(f"/serve/{slug}/{path}", data=body, content_type="application/json", **headers)
