"""A scheduling pass on a cluster with quotas costs the same number of queries with 2 or 20 waiting lines: every
line's first jobs come in one query and the pass's writes are one statement per kind of change."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import services
from jobs.models import Job
from jobs.tests.factories import SPEC, ClusterFactory, resources
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

H100, A100 = "H100-80GB", "A100-80GB"


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
