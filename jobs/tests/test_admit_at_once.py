"""A submit whose jobs fit and find nobody waiting admits them at once under the cluster's lock (issue 21): the same
outcome as a whole pass, in fewer queries; a submit that must wait for capacity, or finds a job waiting, or is
under a quota, gets the whole pass, so capacity is never over-committed and strict priority and queue positions
hold."""

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import selectors, services
from jobs.drivers.simulated import SimulatedDriver
from jobs.models import Job
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, ClusterFactory, resources, submit_job

pytestmark = pytest.mark.django_db

H100 = "H100-80GB"
# The columns a pass writes for a job it admits, starts or fails, compared between the two ways.
WRITTEN = ("status", "status_message", "admitted_at", "started_at", "completed_at", "outputs", "actual_cost")


def gpu_cluster(tenant, *, startup: float = 0, failure_rate: float = 0.0, gpus: int = 8, name: str = "gpu"):
    return ClusterFactory(
        tenant=tenant,
        name=name,
        inventory={"gpus": {H100: gpus}, "cpu_cores": 64, "memory_gib": 512},
        simulation={"startup_seconds": {"default": startup}, "failure_rate": failure_rate, "seed": 0},
    )


@pytest.fixture
def decisions(monkeypatch):
    """What each `admit_new` decided: True (admitted at once) or False (left to a pass)."""
    seen: list[bool] = []
    original = SimulatedDriver.admit_new

    def spy(self, **kwargs):
        result = original(self, **kwargs)
        seen.append(result is not None)
        return result

    monkeypatch.setattr(SimulatedDriver, "admit_new", spy)
    return seen


def bulk(cluster, project, *gpus: int, priority: int = 50):
    return services.jobs_submit_many(
        cluster=cluster,
        jobs=[
            {
                "name": f"j{index}",
                "job_type": "SERVICE",
                "tenant": cluster.tenant,
                "project": project,
                "resources": resources(gpus=count),
                "spec": SPEC,
                "priority": priority,
            }
            for index, count in enumerate(gpus)
        ],
    )


def held_gpus(cluster) -> int:
    holding = Job.objects.filter(cluster=cluster, admitted_at__isnull=False, status__in=["PENDING", "RUNNING"])
    return sum(job.demand_gpus for job in holding)


@pytest.mark.parametrize(
    ("startup", "failure_rate", "status"), [(0, 0.0, "RUNNING"), (10, 0.0, "PENDING"), (0, 1.0, "FAILED")]
)
def test_admitted_at_once_exactly_as_a_pass_would(
    tenant, project, clock, monkeypatch, decisions, startup, failure_rate, status
):
    fast = gpu_cluster(tenant, startup=startup, failure_rate=failure_rate, name="fast")
    slow = gpu_cluster(tenant, startup=startup, failure_rate=failure_rate, name="slow")
    returned_fast = bulk(fast, project, 2, 1, 0)
    assert decisions == [True]
    monkeypatch.setattr(SimulatedDriver, "admit_new", lambda self, **kwargs: None)  # every submit gets the pass
    returned_slow = bulk(slow, project, 2, 1, 0)

    def written(jobs):
        return [tuple(getattr(job, name) for name in WRITTEN) for job in jobs]

    stored_fast = [Job.objects.get(pk=job.pk) for job in returned_fast]
    stored_slow = [Job.objects.get(pk=job.pk) for job in returned_slow]
    assert written(stored_fast) == written(stored_slow)
    assert written(returned_fast) == written(stored_fast)  # what the caller holds is what was written
    assert {job.status for job in stored_fast} == {status}
    if status == "RUNNING":
        assert stored_fast[0].outputs["url"].startswith("http://j0.")


def test_a_submit_admitted_at_once_reads_no_line_no_spec_and_nothing_back(tenant, project, clock, decisions):
    cluster = gpu_cluster(tenant)
    submit_job(cluster, project, "first", gpus=2)  # something held: its capacity is counted
    with CaptureQueriesContext(connection) as ctx:
        jobs = bulk(cluster, project, 2, 1)
    sqls = [query["sql"] for query in ctx.captured_queries]
    assert decisions == [True, True]
    assert [job.status for job in jobs] == ["RUNNING", "RUNNING"]
    assert not any("ROW_NUMBER" in sql or '"jobs_job"."spec"' in sql for sql in sqls)  # no line, no spec read
    assert not any(sql.startswith('SELECT "jobs_job"."id"') for sql in sqls)  # nothing read back
    assert not any("SET status = 'QUEUED'" in sql or "SET status = %s" in sql for sql in sqls)  # nobody queued
    # PostgreSQL: the insert's savepoint, the local queues, the numbers, the insert and its release; the pass's
    # savepoint, the cluster's lock, the capacity held and whether anyone waits (one statement), the jobs' update and
    # the release (15 with a whole pass: its sums, admitted jobs, lines, specs, the queued update, the read back).
    # SQLite: the counter's update and read instead of the numbers, and the jobs updated row by row.
    assert len(sqls) == (10 if settings.IS_POSTGRES else 12)
    assert held_gpus(cluster) == 5


def test_jobs_that_do_not_fit_go_to_a_pass_which_never_over_commits(tenant, project, clock, decisions):
    cluster = gpu_cluster(tenant)
    submit_job(cluster, project, "big", gpus=6)
    jobs = bulk(cluster, project, 2, 2)  # each fits the 2 left, together they do not
    assert decisions == [True, False]
    assert [job.status for job in jobs] == ["RUNNING", "QUEUED"]
    assert held_gpus(cluster) == 8
    assert selectors.job_queue_info(job=jobs[1])["queue_position"] == 1


def test_a_job_waiting_ahead_keeps_its_place(tenant, project, clock, decisions):
    cluster = gpu_cluster(tenant, startup=0)
    submit_job(cluster, project, "running", gpus=4, job_type="BATCH", duration_seconds=60)
    head = submit_job(cluster, project, "head", gpus=8, priority=90)  # waits for the whole cluster
    assert head.status == "QUEUED"
    small = submit_job(cluster, project, "small", gpus=1)  # fits the 4 free GPUs, but the head came first
    assert decisions == [True, False, False]
    small.refresh_from_db()
    assert small.status == "QUEUED" and small.admitted_at is None
    assert held_gpus(cluster) == 4
    head_info = selectors.job_queue_info(job=head)
    small_info = selectors.job_queue_info(job=small)
    assert (head_info["queue_position"], small_info["queue_position"]) == (1, 2)
    assert head_info["predicted_start"] == T0 + dt.timedelta(seconds=60)  # when the batch job ends
    assert small_info["predicted_start"] is None  # after it the head holds every GPU, a service for good
    clock.shift(61)  # the batch job ends: the head runs first, then nothing is left for the small one
    services.cluster_schedule_pass(cluster=cluster)
    head.refresh_from_db()
    small.refresh_from_db()
    assert (head.status, small.status) == ("RUNNING", "QUEUED")


def test_a_lower_priority_job_waiting_also_sends_the_submit_to_a_pass(tenant, project, clock, decisions):
    cluster = gpu_cluster(tenant)
    submit_job(cluster, project, "running", gpus=6)
    waiting = submit_job(cluster, project, "waiting", gpus=4, priority=10)
    urgent = submit_job(cluster, project, "urgent", gpus=2, priority=90)
    assert decisions == [True, False, False]
    assert (waiting.status, urgent.status) == ("QUEUED", "RUNNING")  # the pass admits it ahead of the waiting one
    assert held_gpus(cluster) == 8


def test_a_cluster_with_quotas_always_gets_a_pass(tenant, project, clock, decisions):
    cluster = gpu_cluster(tenant)
    queue = services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "team", "nominal_quota": {"gpus": {H100: 2}}}
    )
    services.local_queue_create(user=None, cluster_queue=queue, name="team-local", project=project)
    jobs = [submit_job(cluster, project, f"j{index}", gpus=2) for index in range(2)]
    assert decisions == [False, False]  # the pass applies the quota
    assert [job.status for job in jobs] == ["RUNNING", "QUEUED"]
