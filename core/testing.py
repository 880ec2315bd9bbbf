"""Helpers for tests in every app."""

from __future__ import annotations

import time

from django.db import connection
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


def database_url_for(settings_dict: dict) -> str:
    """The DATABASE_URL a child process (worker, manage.py) needs to reach the test database, on either backend."""
    engine = settings_dict["ENGINE"]
    name = settings_dict["NAME"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{name}"


def db_id(instance) -> object:
    """An object's primary key as the database stores it, for raw SQL in tests (SQLite keeps UUIDs as hex)."""
    return instance._meta.pk.get_db_prep_value(instance.pk, connection)
