"""The order of jobs on a cluster: each submission (or requeue) takes the next number of a counter, and a queue is
FIFO within a priority by that number.

On PostgreSQL the numbers come from one database sequence (`jobs_job_sequence`, migration 0012): `nextval` takes no
row lock and is not undone by a rollback, so submitters on one cluster never wait for each other's commit (each
commit waits for its WAL flush, several milliseconds on a disk; with a counter on the cluster's row every submitter
queued behind that flush, and concurrent submitters could not share it). The numbers are increasing across all
clusters, hence on each, with gaps. Elsewhere (SQLite, where writers are serialised anyway) the cluster's
`sequence_counter` is bumped and read back in the caller's transaction.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import F

SEQUENCE = "jobs_job_sequence"
NEXTVAL_SQL = f"nextval('{SEQUENCE}')"


def uses_sequence() -> bool:
    return connection.vendor == "postgresql"


def next_sequences(cluster_id, count: int = 1) -> list[int]:
    """`count` new numbers for jobs on the cluster, increasing (one query on PostgreSQL, two elsewhere; the caller
    holds a transaction around the counter's two)."""
    from jobs.models import Cluster

    if uses_sequence():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {NEXTVAL_SQL} FROM generate_series(1, %s)", [count])
            return sorted(row[0] for row in cursor.fetchall())
    Cluster.objects.filter(pk=cluster_id).update(sequence_counter=F("sequence_counter") + count)
    last = Cluster.objects.filter(pk=cluster_id).values_list("sequence_counter", flat=True).get()
    return list(range(last - count + 1, last + 1))
