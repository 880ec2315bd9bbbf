"""`Cluster.jobs_submitted` was the job counter of SQLite only (PostgreSQL numbers jobs from a sequence since 0012 and
left it at 0): named for what it is, and shown nowhere; the admin counts a cluster's jobs on read."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0013_fair_sharing_preemption"),
    ]

    operations = [
        migrations.RenameField(model_name="cluster", old_name="jobs_submitted", new_name="sequence_counter"),
    ]
