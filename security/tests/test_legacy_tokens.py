"""security.0002 turns DRF's plaintext tokens into hashed named tokens with the same key, and deletes the clear rows."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.test import APIClient

from security.models import ApiToken

pytestmark = pytest.mark.django_db

migration = importlib.import_module("security.migrations.0002_import_drf_tokens")
LEGACY_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"


def test_a_drf_token_keeps_working_and_its_plaintext_row_is_gone(member_user):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id integer, created timestamp)")
        cursor.execute(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, '2026-01-02 03:04:05')",
            [LEGACY_KEY, member_user.pk],
        )
    # The data migration only reads `schema_editor.connection`; SQLite refuses a real schema editor inside the
    # test's transaction.
    schema_editor = SimpleNamespace(connection=connection)
    migration.import_drf_tokens(apps, schema_editor)
    migration.import_drf_tokens(apps, schema_editor)  # idempotent

    token = ApiToken.objects.get(user=member_user)
    assert (token.name, token.scope, token.expires_at, token.prefix) == ("legacy token", "write", None, LEGACY_KEY[:12])
    assert token.created_at.year == 2026 and token.created_at.month == 1
    assert LEGACY_KEY not in token.digest
    assert APIClient(HTTP_AUTHORIZATION=f"Token {LEGACY_KEY}").get("/api/v1/projects").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
