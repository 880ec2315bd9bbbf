"""Job numbers from a PostgreSQL sequence (jobs/sequences.py): submitters no longer share the cluster row's counter
through their commits. It starts above every number taken so far, so new jobs queue behind the waiting ones."""

from django.db import migrations

SEQUENCE = "jobs_job_sequence"


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint")
    schema_editor.execute(
        f"SELECT setval('{SEQUENCE}', GREATEST(1, (SELECT COALESCE(MAX(jobs_submitted), 0) FROM jobs_cluster),"
        " (SELECT COALESCE(MAX(sequence), 0) FROM jobs_job)))"
    )


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0011_job_kind"),
    ]

    operations = [
        migrations.RunPython(create_sequence, drop_sequence),
    ]
