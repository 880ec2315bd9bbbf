"""A scheduling pass on a cluster with quotas costs the same number of queries with 2 or 20 waiting lines: every
line's first jobs come in one query and the pass's writes are one statement per kind of change."""

import contextlib
import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from jobs import services
from jobs.drivers import lines
from jobs.models import Cluster, Job
from jobs.tests.factories import SPEC, ClusterFactory, resources
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

H100, A100 = "H100-80GB", "A100-80GB"
# A pass over a cluster with quotas whose lines are all blocked (PostgreSQL; SQLite writes row by row).
PASS_QUERIES = 9


def queued_cluster(tenant, name: str, queues: int) -> object:
    """`queues` ClusterQueues of one cohort, each with 1 H100 and 1 A100 of quota and three jobs of each waiting: a
    pass admits one job per line and leaves two behind it."""
    cluster = ClusterFactory(
        tenant=tenant,
        name=name,
        inventory={"gpus": {H100: 64, A100: 64}, "cpu_cores": 512, "memory_gib": 4096},
        simulation={"startup_seconds": {"default": 0}},
    )
    items = []
    for index in range(queues):
        queue = services.cluster_queue_create(
            user=None,
            cluster=cluster,
            data={"name": f"q{index}", "cohort": "all", "nominal_quota": {"gpus": {H100: 1, A100: 1}}},
        )
        project = ProjectFactory(tenant=tenant, name=f"{name}-p{index}")
        services.local_queue_create(user=None, cluster_queue=queue, name=f"l{index}", project=project)
        for n in range(6):
            items.append(
                {
                    "name": f"{name}-{index}-{n}",
                    "job_type": "BATCH",
                    "tenant": tenant,
                    "project": project,
                    "resources": resources(gpus=1, gpu_type=(H100, A100)[n % 2]),
                    "spec": SPEC,
                    "duration_seconds": 600,
                }
            )
    services.jobs_submit_many(cluster=cluster, jobs=items, schedule=False)
    return cluster


def pass_queries(cluster) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        result = services.cluster_schedule_pass(cluster=cluster, bill_running=False)
    return len(ctx.captured_queries), result.admitted


def test_a_pass_costs_the_same_queries_with_2_or_20_lines_of_waiting_jobs(tenant, clock):
    small = queued_cluster(tenant, "small", 1)  # 2 lines (a queue, two GPU types)
    large = queued_cluster(tenant, "large", 10)  # 20 lines
    small_queries, small_admitted = pass_queries(small)
    large_queries, large_admitted = pass_queries(large)
    assert (small_admitted, large_admitted) == (2, 20)  # a job per line, the rest wait for quota
    if not settings.IS_POSTGRES:  # SQLite writes the changed jobs row by row (`jobs.drivers.writes`)
        return
    assert large_queries == small_queries
    # The next pass (nothing to admit: every line is blocked by quota) costs the same whatever the lines.
    assert pass_queries(small)[0] == pass_queries(large)[0]
    assert Job.objects.filter(cluster=large, status="RUNNING").count() == 20
    assert Job.objects.filter(cluster=large, status="QUEUED").count() == 40


def standalone_queues(tenant) -> tuple:
    """Two ClusterQueues without a cohort, 1 H100 of quota each, three 1-GPU jobs waiting in each (q0's of 600 s,
    q1's of 1,200 s), and a job in no queue."""
    cluster = ClusterFactory(
        tenant=tenant,
        name="standalone",
        inventory={"gpus": {H100: 8, A100: 8}, "cpu_cores": 64, "memory_gib": 512},
        simulation={"startup_seconds": {"default": 0}},
    )
    items, projects = [], []
    for index in range(2):
        queue = services.cluster_queue_create(
            user=None, cluster=cluster, data={"name": f"q{index}", "nominal_quota": {"gpus": {H100: 1}}}
        )
        project = ProjectFactory(tenant=tenant, name=f"standalone-p{index}")
        services.local_queue_create(user=None, cluster_queue=queue, name=f"l{index}", project=project)
        projects.append(project)
        for n in range(3):
            items.append(
                {
                    "name": f"q{index}-{n}",
                    "job_type": "BATCH",
                    "tenant": tenant,
                    "project": project,
                    "resources": resources(gpus=1, gpu_type=H100),
                    "spec": SPEC,
                    "duration_seconds": 600 * (index + 1),
                }
            )
    services.jobs_submit_many(cluster=cluster, jobs=items, schedule=False)
    return cluster, projects


def test_a_pass_reads_only_the_lines_whose_queue_may_admit(tenant, clock, monkeypatch):
    cluster, _ = standalone_queues(tenant)
    outside = ProjectFactory(tenant=tenant, name="no-queue")
    services.jobs_submit_many(
        cluster=cluster,
        jobs=[
            {
                "name": "outside",
                "job_type": "BATCH",
                "tenant": tenant,
                "project": outside,
                "resources": resources(gpus=1, gpu_type=A100),
                "spec": SPEC,
                "duration_seconds": 600,
            }
        ],
        schedule=False,
    )
    assert pass_queries(cluster)[1] == 3  # q0's head, q1's head and the job in no queue
    assert Job.objects.get(name="outside").status == "RUNNING"
    read: list = []
    real_take = lines.DbLine._take
    monkeypatch.setattr(lines.DbLine, "_take", lambda self, chunk: (read.extend(chunk), real_take(self, chunk))[1])
    clock.shift(dt.timedelta(seconds=700))  # q0's job ended, q1's still runs: q1's line is closed
    assert pass_queries(cluster)[1] == 1
    assert Job.objects.get(name="q0-1").status == "RUNNING"
    names = {job.name for job in read}
    assert names and all(name.startswith("q0-") for name in names), names  # q1's waiting jobs were not read
    assert Job.objects.get(name="q1-1").status_message.startswith("Waiting for quota in queue q1")


def test_a_job_of_a_gpu_type_the_inventory_no_longer_has_still_fails_in_a_pass(tenant, clock):
    cluster, _ = standalone_queues(tenant)
    pass_queries(cluster)
    Cluster.objects.filter(pk=cluster.pk).update(inventory={"gpus": {A100: 8}, "cpu_cores": 64, "memory_gib": 512})
    cluster.refresh_from_db()
    pass_queries(cluster)
    assert Job.objects.get(name="q0-1").status == "FAILED"
    assert "never fit" in Job.objects.get(name="q0-1").status_message


def test_a_pass_over_100_lines_costs_a_pinned_number_of_queries(tenant, clock, django_assert_max_num_queries):
    cluster = queued_cluster(tenant, "pinned", 50)  # 100 lines
    pass_queries(cluster)
    with django_assert_max_num_queries(PASS_QUERIES if settings.IS_POSTGRES else 10_000):
        services.cluster_schedule_pass(cluster=cluster, bill_running=False)


def pinned(assert_num_queries, count: int):
    """Exactly `count` queries on PostgreSQL (SQLite writes the changed jobs row by row: `jobs.drivers.writes`)."""
    return assert_num_queries(count) if settings.IS_POSTGRES else contextlib.nullcontext()


# A pass that ends and admits jobs over 20 lines (PostgreSQL): lock, quiet sums, holders, queues, the heads' probe, the
# full rows of the jobs it changes, the ended and the admitted-and-started jobs' updates, the queued jobs' statement,
# wait messages, fair-share history, and the transaction's BEGIN/COMMIT.
STEADY_PASS_QUERIES = 13


def test_a_pass_builds_model_rows_only_for_the_jobs_it_changes(tenant, clock, django_assert_num_queries):
    cluster = queued_cluster(tenant, "steady", 10)  # 20 lines: a job of each runs, two wait behind it
    pass_queries(cluster)
    clock.shift(dt.timedelta(seconds=600))  # every running job ends: each line admits its next one
    built: list = []

    def count(sender, instance, **kwargs):
        built.append(instance)

    post_init.connect(count, sender=Job)
    try:
        with pinned(django_assert_num_queries, STEADY_PASS_QUERIES):
            result = services.cluster_schedule_pass(cluster=cluster, bill_running=False)
    finally:
        post_init.disconnect(count, sender=Job)
    assert (result.succeeded, result.admitted, result.started) == (20, 20, 20)
    # The 40 jobs it changed, not the 20 it only planned with (the lines' other heads) nor twice the same.
    assert len(built) == 40
    assert Job.objects.filter(cluster=cluster, status="RUNNING").count() == 20
    assert Job.objects.filter(cluster=cluster, status="SUCCEEDED").count() == 20


def test_jobs_submitted_into_a_closed_line_say_why_in_the_statement_that_queues_them(
    tenant, clock, django_assert_num_queries
):
    cluster, projects = standalone_queues(tenant)
    pass_queries(cluster)  # q0-0 and q1-0 run: both queues use their one H100, their lines are closed
    services.jobs_submit_many(
        cluster=cluster,
        jobs=[
            {
                "name": f"late-{n}",
                "job_type": "BATCH",
                "tenant": tenant,
                "project": projects[1],
                "resources": resources(gpus=1, gpu_type=H100),
                "spec": SPEC,
                "duration_seconds": 600,
            }
            for n in range(3)
        ],
        schedule=False,
    )
    with pinned(django_assert_num_queries, CLOSED_PASS_QUERIES):
        result = services.cluster_schedule_pass(cluster=cluster, bill_running=False)
    assert (result.admitted, result.queued) == (0, 3)
    expected = (
        "Waiting for quota in queue q1: needs 1 x H100-80GB GPU, the queue may use 0 x H100-80GB GPU more now"
        " (nominal 1 x H100-80GB GPU, in use 1 x H100-80GB GPU); held by q1 1 x H100-80GB GPU."
    )
    assert set(Job.objects.filter(name__startswith="late-").values_list("status", "status_message")) == {
        ("QUEUED", expected)
    }


# A pass over closed lines only, that queues the jobs just submitted into one: lock, quiet sums, holders, queues, the
# queued jobs' statement (their wait messages in it), fair-share history, BEGIN/COMMIT.
CLOSED_PASS_QUERIES = 8
