"""Fair-sharing preemption in the scheduling pass on the database: the reason on both sides, a TRAINING job that
resumes from its checkpoint, a SERVICE back to waiting, and no preemption back and forth over many passes."""

import datetime as dt

import pytest

from jobs import services
from jobs.models import Job, JobEvent
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, ClusterFactory, resources, submit_job
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

H100 = "H100-80GB"


@pytest.fixture
def teams(tenant):
    """A 16-GPU pool lent to two teams with no quota of their own, both with fair-sharing preemption."""
    cluster = ClusterFactory(
        tenant=tenant,
        inventory={"gpus": {H100: 16}, "cpu_cores": 256, "memory_gib": 2048},
        simulation={"startup_seconds": {"default": 0}},
    )
    services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": "pool", "cohort": "lab", "nominal_quota": {"gpus": {H100: 16}}}
    )
    projects = {}
    for name in ("team-a", "team-b"):
        queue = services.cluster_queue_create(
            user=None,
            cluster=cluster,
            data={
                "name": name,
                "cohort": "lab",
                "nominal_quota": {"gpus": {H100: 0}},
                "fair_sharing_preemption": "LessThanOrEqualToFinalShare",
            },
        )
        projects[name] = ProjectFactory(tenant=tenant, name=name)
        services.local_queue_create(user=None, cluster_queue=queue, name=f"{name}-l", project=projects[name])
    return cluster, projects


def train(cluster, project, name, **kwargs):
    return services.job_submit(
        cluster=cluster,
        name=name,
        job_type="TRAINING",
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=8),
        spec=SPEC,
        **kwargs,
    )


def test_a_late_team_preempts_the_newest_training_job_above_its_share_and_it_resumes(teams, clock):
    cluster, projects = teams
    first = train(cluster, projects["team-a"], "a-first", duration_seconds=7200, checkpoint_interval_minutes=10)
    newest = train(cluster, projects["team-a"], "a-newest", duration_seconds=7200, checkpoint_interval_minutes=10)
    assert newest.status == "RUNNING"  # team-a borrows the whole pool
    clock.shift(1500)
    late = train(cluster, projects["team-b"], "b-late", duration_seconds=3600)
    assert late.status == "RUNNING"
    first.refresh_from_db()
    newest.refresh_from_db()
    assert first.status == "RUNNING" and newest.status == "QUEUED"
    assert newest.work_resumed_from_seconds == 1200 and newest.work_lost_seconds == pytest.approx(300)
    reason = "fair sharing: queue team-b's share with the job (0.500) is at most queue team-a's (0.500)"
    assert newest.status_message.startswith(f"Preempted: {reason} (by job b-late")
    assert JobEvent.objects.filter(job=newest, kind="PREEMPTED", other_job=late, data__reason=reason).exists()
    assert JobEvent.objects.filter(job=late, kind="PREEMPTOR", other_job=newest, data__reason=reason).exists()
    # Passes every minute for half an hour: team-a's preempted job waits at the head of its line and never
    # preempts b-late back (team-a's share with it, 1.0, is above team-b's without its job, 0).
    for _ in range(30):
        clock.shift(60)
        services.cluster_schedule_pass(cluster=cluster)
    late.refresh_from_db()
    newest.refresh_from_db()
    assert late.status == "RUNNING" and late.preemptions == 0
    assert newest.status == "QUEUED" and newest.preemptions == 1
    assert "Waiting for quota in queue team-a" in newest.status_message
    assert JobEvent.objects.filter(kind="PREEMPTED").count() == 1
    # b-late ends at 1500 + 3600 s: the checkpointed job runs the 6000 s its checkpoint left.
    services.cluster_schedule_pass(cluster=cluster, now=T0 + dt.timedelta(seconds=5100))
    newest.refresh_from_db()
    assert newest.status == "RUNNING"


def test_a_preempted_service_goes_back_to_waiting_whole(teams, clock):
    cluster, projects = teams
    services_a = [submit_job(cluster, projects["team-a"], f"svc-{i}", gpus=8) for i in range(2)]
    assert all(job.status == "RUNNING" for job in services_a)
    clock.shift(60)
    late = submit_job(cluster, projects["team-b"], "b-svc", gpus=8)
    assert late.status == "RUNNING"
    victim = Job.objects.get(pk=services_a[1].pk)
    assert victim.status == "QUEUED" and victim.admitted_at is None and victim.started_at is None
    assert victim.status_message.startswith("Preempted: fair sharing: queue team-b's share")
    assert Job.objects.get(pk=services_a[0].pk).status == "RUNNING"


def test_with_fair_sharing_preemption_off_a_late_team_waits(teams, clock):
    cluster, projects = teams
    for queue in cluster.cluster_queues.all():
        services.cluster_queue_update(user=None, queue=queue, data={"fair_sharing_preemption": "Never"})
    train(cluster, projects["team-a"], "a0", duration_seconds=7200)
    train(cluster, projects["team-a"], "a1", duration_seconds=7200)
    clock.shift(60)
    late = train(cluster, projects["team-b"], "b0", duration_seconds=3600)
    assert late.status == "QUEUED" and not JobEvent.objects.exists()
