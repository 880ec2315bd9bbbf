"""Quotas in the scheduling pass on the database: admission within the queue, the wait message, reclaim and
preemption recorded on both sides, and jobs without a queue untouched."""

import pytest

from jobs import selectors, services
from jobs.models import ClusterQueue, Job, JobEvent
from jobs.tests.factories import ClusterFactory, submit_job
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

H100 = "H100-80GB"


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(
        tenant=tenant,
        name="gpu",
        inventory={"gpus": {H100: 16}, "cpu_cores": 256, "memory_gib": 2048},
        simulation={"startup_seconds": {"default": 0}},
    )


def make_queue(cluster, name, gpus, *, project=None, **fields):
    queue = services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": name, "nominal_quota": {"gpus": {H100: gpus}}, **fields}
    )
    services.local_queue_create(user=None, cluster_queue=queue, name=f"{name}-local", project=project)
    return queue


def held(queue) -> int:
    jobs = Job.objects.filter(cluster_queue=queue, admitted_at__isnull=False, status__in=["PENDING", "RUNNING"])
    return sum(job.demand_gpus for job in jobs)


def test_a_queue_admits_up_to_its_nominal_quota_and_says_why_the_rest_waits(cluster, project, clock):
    queue = make_queue(cluster, "team-a", 4)
    jobs = [submit_job(cluster, project, f"j{i}", gpus=2) for i in range(3)]
    assert [job.cluster_queue_id for job in jobs] == [queue.pk] * 3
    assert [job.status for job in jobs] == ["RUNNING", "RUNNING", "QUEUED"]
    assert jobs[2].status_message.startswith(
        "Waiting for quota in queue team-a: needs 2 x H100-80GB GPU, the queue may use 0 x H100-80GB GPU more now"
    )
    assert "held by team-a 4 x H100-80GB GPU" in jobs[2].status_message
    info = selectors.job_queue_info(job=jobs[2])
    assert info["reason"].startswith("Waiting for quota in queue team-a")


def test_jobs_of_a_project_without_a_local_queue_keep_todays_behaviour(cluster, project, tenant):
    make_queue(cluster, "team-a", 2, project=ProjectFactory(tenant=tenant, name="other"))
    jobs = [submit_job(cluster, project, f"j{i}", gpus=8) for i in range(3)]
    assert all(job.cluster_queue_id is None for job in jobs)
    assert [job.status for job in jobs] == ["RUNNING", "RUNNING", "QUEUED"]
    assert jobs[2].status_message == "Waiting for capacity."


def test_a_project_queue_wins_over_the_tenant_wide_one(cluster, project, tenant):
    tenant_wide = make_queue(cluster, "everyone", 8)
    own = make_queue(cluster, "mine", 8, project=project)
    other = ProjectFactory(tenant=tenant, name="p2")
    assert submit_job(cluster, project, "a").cluster_queue_id == own.pk
    assert submit_job(cluster, other, "b").cluster_queue_id == tenant_wide.pk


def test_reclaim_preempts_the_borrower_and_records_it_on_both_sides(cluster, tenant, clock):
    pa, pb = ProjectFactory(tenant=tenant, name="pa"), ProjectFactory(tenant=tenant, name="pb")
    qa = make_queue(cluster, "team-a", 8, project=pa, cohort="research")
    qb = make_queue(cluster, "team-b", 8, project=pb, cohort="research", reclaim_within_cohort="Any")
    borrowers = [submit_job(cluster, pa, f"a{i}", gpus=4, job_type="BATCH", duration_seconds=3600) for i in range(4)]
    assert held(qa) == 16  # its 8 and team-b's unused 8
    clock.shift(600)
    owner = submit_job(cluster, pb, "b0", gpus=8, priority="HIGH")
    assert owner.status == "RUNNING"
    assert held(qb) == 8 and held(qa) == 8
    preempted = Job.objects.filter(pk__in=[b.pk for b in borrowers], status="QUEUED")
    # Newest first: the two last borrowers go back to wait; the owner's first 8 GPUs of team-a are untouched.
    assert sorted(preempted.values_list("name", flat=True)) == ["a2", "a3"]
    victim = preempted.get(name="a3")
    assert victim.preemptions == 1 and victim.admitted_at is None and victim.started_at is None
    assert victim.actual_cost > 0  # ten minutes on 4 GPUs are kept on the bill
    assert victim.status_message.startswith("Preempted: reclaimed within the cohort (by job b0")
    assert JobEvent.objects.filter(job=victim, kind="PREEMPTED", other_job=owner).exists()
    assert JobEvent.objects.filter(job=owner, kind="PREEMPTOR", other_job=victim).exists()
    # When the owner is done, the preempted borrower runs again and its bill continues from what it had.
    services.job_cancel(user=None, job=owner)
    clock.shift(60)
    services.cluster_schedule_pass(cluster=cluster)
    victim.refresh_from_db()
    assert victim.status == "RUNNING" and victim.actual_cost >= victim.cost_before_rate > 0


def test_within_queue_priority_preemption_follows_the_policy(cluster, project, clock):
    queue = make_queue(cluster, "team-a", 8, within_cluster_queue="LowerPriority")
    low = submit_job(cluster, project, "low", gpus=8, priority="LOW")
    same = submit_job(cluster, project, "same", gpus=8, priority="LOW")
    assert same.status == "QUEUED"
    high = submit_job(cluster, project, "high", gpus=8, priority="HIGH")
    low.refresh_from_db()
    assert high.status == "RUNNING" and low.status == "QUEUED"
    assert held(queue) == 8
    services.cluster_queue_update(user=None, queue=queue, data={"within_cluster_queue": "Never"})
    urgent = submit_job(cluster, project, "urgent", gpus=8, priority="CRITICAL")
    assert urgent.status == "QUEUED"


def test_a_gang_is_never_partly_admitted(cluster, project):
    queue = make_queue(cluster, "team-a", 12)
    gang = submit_job(cluster, project, "gang", gpus=4, replicas=4, job_type="TRAINING")  # 16 GPUs > 12
    gang.refresh_from_db()
    assert gang.status == "FAILED" and "queue team-a may never use more than 12" in gang.status_message
    services.cluster_queue_update(user=None, queue=queue, data={"nominal_quota": {"gpus": {H100: 16}}})
    submit_job(cluster, project, "first", gpus=4)
    gang = submit_job(cluster, project, "gang2", gpus=4, replicas=4, job_type="TRAINING")
    assert gang.status == "QUEUED" and gang.admitted_at is None
    assert held(queue) == 4


def test_a_queue_with_running_jobs_cannot_be_deleted(cluster, project):
    queue = make_queue(cluster, "team-a", 8)
    submit_job(cluster, project, "j")
    with pytest.raises(Exception, match="Unfinished jobs count against this queue"):
        services.cluster_queue_delete(user=None, queue=queue)
    assert ClusterQueue.objects.filter(pk=queue.pk).exists()
