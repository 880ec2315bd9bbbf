# Encrypts the clear values left in the columns 0004 made encrypted fields. A migration of its own: on PostgreSQL
# the reverse (decrypt the rows, then ALTER TABLE) cannot share one transaction.

import core.crypto
from django.db import migrations

ENCRYPTED = [
    ("componentdeployment", "config"),
    ("componentdeployment", "env"),
    ("componentdeployment", "planned"),
    ("deploymentrevision", "parameters"),
    ("usecasedeployment", "parameters"),
]


def encrypt_existing(apps, schema_editor):
    for model_name, field_name in ENCRYPTED:
        core.crypto.encrypt_column(apps.get_model("deployments", model_name), field_name, schema_editor)


def decrypt_existing(apps, schema_editor):
    for model_name, field_name in ENCRYPTED:
        core.crypto.decrypt_column(apps.get_model("deployments", model_name), field_name, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0004_encrypted_fields"),
    ]

    operations = [
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
