"""Helpers for tests in every app."""

from __future__ import annotations

import time

from rest_framework.test import APIClient


def client_for(user) -> APIClient:
    """A client authenticated as `user` (force_authenticate: no token round trip per request)."""
    client = APIClient()
    client.force_authenticate(user=user)
    client.user = user
    return client


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value or the deadline passes (no bare sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
