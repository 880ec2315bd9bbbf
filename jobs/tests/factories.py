import factory

from jobs import services
from jobs.models import Cluster
from tenancy.tests.factories import TenantFactory

SPEC = {"kind": "docker", "image": "ghcr.io/acme/app", "tag": "1.0", "port": 8080}


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"cluster-{n}")
    driver = Cluster.Driver.SIMULATED
    inventory = factory.LazyFunction(
        lambda: {"gpus": {"H100-80GB": 8, "A100-80GB": 4}, "cpu_cores": 64, "memory_gib": 512}
    )
    prices = factory.LazyFunction(
        lambda: {"gpu_hour": {"H100-80GB": 2.5, "A100-80GB": 1.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.003}
    )
    simulation = factory.LazyFunction(lambda: {"startup_seconds": {"default": 10}, "failure_rate": 0.0, "seed": 0})


def resources(gpus: int = 0, gpu_type: str = "H100-80GB", cpu: float = 1, memory_gib: float = 1, replicas: int = 1):
    return {
        "gpu_type": gpu_type if gpus else None,
        "gpu_count": gpus,
        "cpu": cpu,
        "memory_gib": memory_gib,
        "replicas": replicas,
    }


def submit_job(
    cluster,
    project,
    name: str = "job",
    *,
    job_type: str = "SERVICE",
    gpus: int = 1,
    gpu_type: str = "H100-80GB",
    cpu: float = 1,
    memory_gib: float = 1,
    replicas: int = 1,
    duration_seconds: float | None = None,
    **kwargs,
):
    """A job submitted through jobs.services on the cluster's tenant; BATCH and TRAINING run 60 s unless told."""
    if job_type != "SERVICE" and duration_seconds is None:
        duration_seconds = 60
    return services.job_submit(
        cluster=cluster,
        name=name,
        job_type=job_type,
        tenant=cluster.tenant,
        project=project,
        resources=resources(gpus=gpus, gpu_type=gpu_type, cpu=cpu, memory_gib=memory_gib, replicas=replicas),
        spec=kwargs.pop("spec", SPEC),
        duration_seconds=duration_seconds,
        **kwargs,
    )
