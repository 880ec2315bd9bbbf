# Encrypts the clear job specs left by 0004. A migration of its own: on PostgreSQL the reverse (decrypt the rows,
# then ALTER TABLE) cannot share one transaction.

import core.crypto
from django.db import migrations


def encrypt_existing(apps, schema_editor):
    core.crypto.encrypt_column(apps.get_model("jobs", "Job"), "spec", schema_editor)


def decrypt_existing(apps, schema_editor):
    core.crypto.decrypt_column(apps.get_model("jobs", "Job"), "spec", schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_encrypted_fields"),
    ]

    operations = [
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
