"""Quotas hold under concurrent submitters: real threads, each with its own PostgreSQL connection, submitting to
three queues of one cohort at once; no queue ever holds more than it may (nominal + borrowing limit), and the
cohort never more than its pool."""

from jobs import services
from jobs.models import Job
from jobs.tests.factories import SPEC, ClusterFactory, resources
from jobs.tests.test_concurrency import pytestmark as concurrency_marks
from jobs.tests.test_concurrency import run_concurrently
from tenancy.tests.factories import ProjectFactory, TenantFactory

pytestmark = concurrency_marks

H100 = "H100-80GB"


def held(queue) -> int:
    jobs = Job.objects.filter(cluster_queue=queue, admitted_at__isnull=False, status__in=["PENDING", "RUNNING"])
    return sum(job.demand_gpus for job in jobs)


def test_concurrent_submitters_never_exceed_a_queues_quota():
    tenant = TenantFactory()
    cluster = ClusterFactory(
        tenant=tenant,
        inventory={"gpus": {H100: 64}, "cpu_cores": 1000, "memory_gib": 1000},
        simulation={"startup_seconds": {"default": 0}},
    )
    projects, queues = [], []
    # Cluster capacity (64) is far above the cohort's quotas (4 + 4 + 6 = 14): only the quotas can hold the line.
    for name, gpus, limit in (("a", 4, 2), ("b", 4, 0), ("c", 6, None)):
        project = ProjectFactory(tenant=tenant, name=f"p-{name}")
        data = {"name": name, "cohort": "shared", "nominal_quota": {"gpus": {H100: gpus}}}
        if limit is not None:
            data["borrowing_limit"] = {"gpus": {H100: limit}}
        queue = services.cluster_queue_create(user=None, cluster=cluster, data=data)
        services.local_queue_create(user=None, cluster_queue=queue, name=f"l-{name}", project=project)
        projects.append(project)
        queues.append(queue)

    def submit_many(index: int) -> None:
        project = projects[index % 3]
        for n in range(8):
            services.job_submit(
                cluster=cluster,
                name=f"t{index}-{n}",
                job_type="SERVICE",
                tenant=tenant,
                project=project,
                resources=resources(gpus=1 + (n % 2)),
                spec=SPEC,
            )

    errors = run_concurrently(6, submit_many)
    assert not errors, errors
    assert Job.objects.filter(cluster=cluster).count() == 48
    a, b, c = (held(q) for q in queues)
    assert a <= 4 + 2 and b <= 4 and c <= 14
    assert a + b + c <= 14
    # The quota is used, not only respected: at most one GPU stays free, set aside for a 2-GPU head in line.
    assert a + b + c >= 13
    assert Job.objects.filter(cluster=cluster, status="QUEUED").count() > 0
