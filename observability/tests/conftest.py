"""A running deployment of simple-rag-v1 whose LLM was sized for a real-time use case at 20 users."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from deployments import reconciler
from deployments.models import UseCaseDeployment
from deployments.services import deployment_create
from deployments.tests.factories import make_cluster, seed_system_templates
from jobs.models import Job
from observability.collect import floor_minute, metrics_collect
from sizing.tests.conftest import shipped_usecases  # noqa: F401  (the shipped SLO catalog, loaded)
from templates_app.models import UseCaseTemplate

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
REAL_TIME = "ambient_scribe"  # 600 in / 200 out, TTFT <= 0.35 s, ITL <= 35 ms, E2E <= 1.76 s


def running_deployment(*, user, project, tenant, name: str = "rag") -> UseCaseDeployment:
    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name=f"{name}-cluster")
    deployment, _ = deployment_create(
        user=user,
        template=UseCaseTemplate.objects.get(slug="simple-rag-v1", tenant__isnull=True),
        project=project,
        cluster=cluster,
        parameters={"model_id": MODEL},
        name=name,
        usecase_id=REAL_TIME,
        load={"concurrency": 20},
    )
    settle(deployment)
    return deployment


def settle(deployment: UseCaseDeployment) -> None:
    for _ in range(6):  # zero start-up time: a pass per start wave
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING", deployment.status_message


@pytest.fixture
def deployment(admin_user, project, tenant, shipped_usecases):  # noqa: F811
    return running_deployment(user=admin_user, project=project, tenant=tenant)


@pytest.fixture
def collected(deployment):
    """Fifteen minutes of metrics up to now: the jobs are made to have started half an hour ago."""
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(minutes=30))
    now = floor_minute(timezone.now())
    assert metrics_collect(now=now).rows
    return deployment, now
