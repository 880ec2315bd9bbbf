"""Quota admission on a Kubernetes cluster, without a cluster: a job of a ClusterQueue is held (nothing applied)
until a pass admits it within its queue's quota; the pass applies exactly the admitted ones (the apply step is the
edge of the world here; jobs/tests/kubernetes/test_quotas_on_cluster.py runs it against a real apiserver)."""

import pytest
from django.utils import timezone

from jobs import services
from jobs.drivers.base import SchedulePassResult
from jobs.drivers.kubernetes.admission import admit_held
from jobs.drivers.kubernetes.driver import KubernetesDriver
from jobs.models import Cluster, Job
from jobs.tests.factories import ClusterFactory, submit_job
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

H100 = "H100-80GB"


@pytest.fixture
def cluster(tenant):
    return ClusterFactory(
        tenant=tenant,
        name="k8s",
        driver=Cluster.Driver.KUBERNETES,
        inventory={"gpus": {H100: 16}, "cpu_cores": 256, "memory_gib": 2048},
        simulation={},
    )


def make_queue(cluster, name, gpus, **fields):
    return services.cluster_queue_create(
        user=None, cluster=cluster, data={"name": name, "nominal_quota": {"gpus": {H100: gpus}}, **fields}
    )


def submit(cluster, project, name, gpus, **kwargs):
    return submit_job(cluster, project, name, gpus=gpus, schedule=False, **kwargs)


def admission_pass(cluster, now):
    applied = []

    def apply(job):  # the driver's apply, which talks to the cluster, stands for this record
        applied.append(job.name)
        Job.objects.filter(pk=job.pk).update(driver_state={"kind": "workload", "namespace": "ns", "name": job.name})

    result = SchedulePassResult(cluster_id=cluster.pk, now=now)
    admit_held(cluster=cluster, now=now, result=result, apply=apply)
    return applied, result


def test_a_queued_job_is_held_until_its_queue_admits_it_then_applied(cluster, project, clock):
    queue = make_queue(cluster, "team-a", 8)
    services.local_queue_create(user=None, cluster_queue=queue, name="team-a-local")
    jobs = [submit(cluster, project, f"j{i}", 4) for i in range(3)]
    assert all(job.cluster_queue_id == queue.pk for job in jobs)
    # Submitting holds: nothing applied, the job says so.
    assert all(job.driver_state == {} for job in jobs)
    assert jobs[0].status_message.startswith("Held until its queue admits it")

    applied, result = admission_pass(cluster, timezone.now())
    assert applied == ["j0", "j1"] and result.admitted == 2
    for job in jobs:
        job.refresh_from_db()
    assert [job.status for job in jobs] == ["PENDING", "PENDING", "QUEUED"]
    assert jobs[0].status_message == "Admitted by queue team-a; applying its objects."
    assert jobs[2].status_message.startswith("Waiting for quota in queue team-a: needs 4 x H100-80GB GPU")

    # A second pass admits nothing more (the applied jobs hold the quota); once one ends, the third goes.
    assert admission_pass(cluster, timezone.now())[0] == []
    Job.objects.filter(pk=jobs[0].pk).update(status="CANCELLED")
    assert admission_pass(cluster, timezone.now())[0] == ["j2"]


def test_cohort_borrowing_limit_and_a_gang_admitted_whole_or_not_at_all(cluster, project, tenant, clock):
    other = ProjectFactory(tenant=tenant, name="other")
    small = make_queue(cluster, "small", 4, cohort="lab", borrowing_limit={"gpus": {H100: 2}})
    big = make_queue(cluster, "big", 8, cohort="lab")
    services.local_queue_create(user=None, cluster_queue=small, name="small-local", project=project)
    services.local_queue_create(user=None, cluster_queue=big, name="big-local", project=other)
    # small may use 4 + 2 borrowed; a gang of 2 x 4 GPUs (8) is more than it may ever use: it fails with the reason.
    gang = submit(cluster, project, "gang", 4, replicas=2)
    submit(cluster, project, "borrows", 6)
    applied, _ = admission_pass(cluster, timezone.now())
    assert applied == ["borrows"]
    gang.refresh_from_db()
    assert gang.status == "FAILED" and gang.status_message.startswith("Its queue can never admit it")
    # big still has 8 - 2 lent = 6 of its own: a 6 GPU job goes, a further one waits for the cohort.
    assert admission_pass(cluster, timezone.now())[0] == []
    first = submit(cluster, other, "big-1", 6)
    second = submit(cluster, other, "big-2", 2)
    assert admission_pass(cluster, timezone.now())[0] == ["big-1"]
    second.refresh_from_db()
    assert first.cluster_queue_id == big.pk
    assert second.status == "QUEUED" and second.status_message.startswith("Waiting for quota in queue big")


def test_a_job_without_a_local_queue_is_applied_at_submission(cluster, project, monkeypatch):
    make_queue(cluster, "team-a", 8)  # no LocalQueue points at it
    applied = []
    monkeypatch.setattr(KubernetesDriver, "apply", lambda self, *, job: applied.append(job.name))
    job = submit(cluster, project, "free", 4)
    assert job.cluster_queue_id is None and applied == ["free"]
