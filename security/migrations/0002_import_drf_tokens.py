# DRF's single plaintext token per user (rest_framework.authtoken, no longer installed) becomes a named, hashed
# ApiToken ("legacy token", write scope, no expiry) with the same key, so clients keep working; the plaintext rows
# are then deleted. Read with SQL: the authtoken app is gone, its table may or may not exist.

import hashlib
import uuid

from datetime import datetime, timezone

from django.db import migrations
from django.utils.dateparse import parse_datetime


def import_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("security", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
        for key, user_id, created in rows:
            digest = hashlib.sha256(key.encode()).hexdigest()
            if not ApiToken.objects.filter(digest=digest).exists():
                token = ApiToken.objects.create(
                    id=uuid.uuid4(), user_id=user_id, name="legacy token", prefix=key[:12], digest=digest, scope="write"
                )
                created = parse_datetime(created) if isinstance(created, str) else created
                if isinstance(created, datetime) and created.tzinfo is None:
                    created = created.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC times
                ApiToken.objects.filter(pk=token.pk).update(created_at=created)
        cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):
    dependencies = [
        ("security", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(import_drf_tokens, migrations.RunPython.noop),
    ]
