import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from core.testing import wait_for
from deployments import reconciler, services
from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster
from jobs import services as job_services
from jobs.models import Job
from templates_app.selectors import template_get_for_user

pytestmark = pytest.mark.django_db


def deploy(user, project, cluster, template_id="simple-rag-v1", parameters=None, **kwargs):
    template = template_get_for_user(user=user, template_id=template_id)
    deployment, created = services.deployment_create(
        user=user,
        template=template,
        project=project,
        cluster=cluster,
        parameters=SIMPLE_RAG_PARAMS if parameters is None else parameters,
        **kwargs,
    )
    assert created
    return deployment


def reconcile(deployment, now=None):
    outcome = reconciler.deployment_reconcile(deployment_id=deployment.pk, now=now)
    deployment.refresh_from_db()
    return outcome


def rows(deployment):
    return {row.key: row for row in deployment.components.filter(retired_at__isnull=True).select_related("job")}


def test_create_records_one_row_per_component_and_enqueues_reconcile(
    templates, member_user, project, cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        deployment = deploy(member_user, project, cluster)
    assert len(callbacks) == 1
    assert deployment.status == "PENDING"
    assert set(rows(deployment)) == {"vector-db", "embedding", "llm", "orchestrator"}
    assert rows(deployment)["orchestrator"].depends_on == ["embedding", "llm", "vector-db"]
    assert deployment.plan["template_id"] == "simple-rag-v1"
    assert DeploymentEvent.objects.filter(deployment=deployment, kind="created").count() == 1
    assert not Job.objects.exists()


def test_bad_parameters_write_nothing(templates, member_user, project, cluster):
    template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
    from core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        services.deployment_create(user=member_user, template=template, project=project, cluster=cluster, parameters={})
    assert "parameters.model_id" in excinfo.value.errors
    assert not UseCaseDeployment.objects.exists()
    assert not ComponentDeployment.objects.exists()


def test_zero_startup_deploys_whole_stack_in_one_pass(templates, member_user, project, cluster):
    deployment = deploy(member_user, project, cluster)
    outcome = reconcile(deployment)
    assert deployment.status == "RUNNING", deployment.status_message
    assert outcome.next_delay is None
    current = rows(deployment)
    assert {key: row.status for key, row in current.items()} == dict.fromkeys(current, "RUNNING")
    jobs = Job.objects.filter(usecase_deployment_id=deployment.pk)
    assert jobs.count() == 4
    assert set(jobs.values_list("source_type", flat=True)) == {"USECASE"}
    orchestrator = current["orchestrator"]
    for upstream, variable in (("vector-db", "VECTOR_DB_URL"), ("embedding", "EMBEDDING_URL"), ("llm", "LLM_URL")):
        assert orchestrator.env[variable] == current[upstream].outputs["url"]
        assert current[upstream].outputs["url"].startswith("http://")
    assert orchestrator.job.spec["env"]["LLM_URL"] == current["llm"].outputs["url"]
    submitted = list(
        DeploymentEvent.objects.filter(deployment=deployment, kind="component_submitted").values_list(
            "data__key", flat=True
        )
    )
    assert submitted[-1] == "orchestrator"
    assert set(submitted[:3]) == {"vector-db", "embedding", "llm"}


def test_components_wait_for_dependencies_with_startup_time(templates, member_user, project, slow_cluster):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        deployment = deploy(member_user, project, slow_cluster)
        outcome = reconcile(deployment)
        current = rows(deployment)
        assert deployment.status == "DEPLOYING"
        assert {current[k].status for k in ("vector-db", "embedding", "llm")} == {"STARTING"}
        assert current["orchestrator"].status == "PENDING"
        assert current["orchestrator"].job_id is None
        assert "Waiting for" in current["orchestrator"].status_message
        assert "llm (STARTING)" in current["orchestrator"].status_message
        # the next pass is scheduled for the driver's next expected change, not a fixed interval
        assert outcome.next_delay == pytest.approx(5, abs=0.5)
    with time_machine.travel(start + timedelta(seconds=5.5), tick=False):
        reconcile(deployment)
        current = rows(deployment)
        assert current["llm"].status == "RUNNING"
        assert current["orchestrator"].status == "STARTING"
        assert deployment.status == "DEPLOYING"
    with time_machine.travel(start + timedelta(seconds=11), tick=False):
        reconcile(deployment)
        assert deployment.status == "RUNNING"


def test_reconcile_twice_never_creates_a_second_job(templates, member_user, project, cluster):
    deployment = deploy(member_user, project, cluster)
    reconcile(deployment)
    reconcile(deployment)
    assert Job.objects.filter(usecase_deployment_id=deployment.pk).count() == 4


def test_failed_component_is_retried_then_fails_the_deployment(templates, member_user, project, tenant):
    cluster = make_cluster(tenant=tenant, name="flaky", failure_rate=1.0)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        deployment = deploy(member_user, project, cluster)
        reconcile(deployment)
    llm = rows(deployment)["llm"]
    assert llm.attempt == 2
    assert llm.status == "PENDING"
    assert "Attempt 1 failed" in llm.status_message
    assert "attempt 2 of 3" in llm.status_message
    assert deployment.status == "DEPLOYING"
    for seconds in (3, 8, 20):  # past each back-off (2 s, then 4 s)
        with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
            reconcile(deployment)
    assert deployment.status == "FAILED"
    llm = rows(deployment)["llm"]
    assert llm.attempt == 3
    assert llm.status == "FAILED"
    assert "Failed after 3 attempts" in llm.status_message
    assert ComponentDeployment.objects.filter(deployment=deployment, key="llm").count() == 3
    assert Job.objects.filter(usecase_deployment_id=deployment.pk, name__endswith="-llm").count() == 3
    assert rows(deployment)["orchestrator"].job_id is None
    assert "Failed after 3 attempts: Simulated failure" in deployment.status_message


def test_retry_that_succeeds_brings_the_deployment_up(templates, member_user, project, tenant):
    cluster = make_cluster(tenant=tenant, name="flaky-once", failure_rate=1.0)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        deployment = deploy(member_user, project, cluster)
        reconcile(deployment)
    cluster.simulation = {**cluster.simulation, "failure_rate": 0.0}
    cluster.save()
    with time_machine.travel(start + timedelta(seconds=3), tick=False):
        reconcile(deployment)
    assert deployment.status == "RUNNING", deployment.status_message
    attempts = {key: row.attempt for key, row in rows(deployment).items()}
    assert attempts == {"vector-db": 2, "embedding": 2, "llm": 2, "orchestrator": 1}  # it never started before


def test_component_failing_after_running_degrades_then_heals(templates, member_user, project, cluster):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        deployment = deploy(member_user, project, cluster)
        reconcile(deployment)
        assert deployment.status == "RUNNING"
        job_services.job_cancel(job=rows(deployment)["llm"].job, reason="node lost")
        assert services.deployments_requeue_stale() == 1  # the sweep notices the dead job of a RUNNING deployment
        reconcile(deployment)
        assert deployment.status == "DEGRADED"
        assert rows(deployment)["llm"].attempt == 2
    with time_machine.travel(start + timedelta(seconds=3), tick=False):
        reconcile(deployment)
    assert deployment.status == "RUNNING"
    statuses = list(
        DeploymentEvent.objects.filter(deployment=deployment, kind="status").values_list("data__status", flat=True)
    )
    assert statuses[-2:] == ["DEGRADED", "RUNNING"]


def test_delete_stops_dependents_first_and_keeps_history(templates, member_user, project, cluster):
    deployment = deploy(member_user, project, cluster)
    reconcile(deployment)
    services.deployment_delete(user=member_user, deployment=deployment)
    assert deployment.__class__.objects.get(pk=deployment.pk).status == "DELETING"
    reconcile(deployment)
    assert deployment.status == "DELETED"
    stopped = list(
        DeploymentEvent.objects.filter(deployment=deployment, kind="component_status", data__status="STOPPED")
        .order_by("id")
        .values_list("data__key", flat=True)
    )
    assert stopped[0] == "orchestrator"
    assert set(stopped[1:]) == {"vector-db", "embedding", "llm"}
    assert set(Job.objects.filter(usecase_deployment_id=deployment.pk).values_list("status", flat=True)) == {
        "CANCELLED"
    }
    assert ComponentDeployment.objects.filter(deployment=deployment).count() == 4


def test_delete_twice_is_a_conflict(templates, member_user, project, cluster):
    from core.exceptions import Conflict

    deployment = deploy(member_user, project, cluster)
    services.deployment_delete(user=member_user, deployment=deployment)
    with pytest.raises(Conflict):
        services.deployment_delete(user=member_user, deployment=deployment)


def test_idempotency_key_returns_the_same_deployment(templates, member_user, project, cluster):
    template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
    kwargs = dict(user=member_user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS)
    first, created = services.deployment_create(idempotency_key="abc", **kwargs)
    second, created_again = services.deployment_create(idempotency_key="abc", **kwargs)
    assert created and not created_again
    assert first.pk == second.pk
    assert UseCaseDeployment.objects.count() == 1


def test_stale_active_deployments_are_requeued(
    templates, member_user, project, cluster, django_capture_on_commit_callbacks
):
    deployment = deploy(member_user, project, cluster)
    UseCaseDeployment.objects.filter(pk=deployment.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.deployments_requeue_stale() == 1
    assert len(callbacks) == 1
    reconcile(deployment)
    with django_capture_on_commit_callbacks():
        assert services.deployments_requeue_stale() == 0  # RUNNING and healthy: nothing to do


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_reconcilers_create_one_job_per_component(templates, member_user, project, tenant):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (select_for_update skip_locked) need PostgreSQL; SQLite serialises writers anyway")
    cluster = make_cluster(tenant=tenant, name="race")
    deployment = deploy(member_user, project, cluster)
    barrier = threading.Barrier(4)
    errors = []

    def run():
        try:
            barrier.wait()
            reconciler.deployment_reconcile(deployment_id=deployment.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # A session Celery worker may also be reconciling this deployment (its create enqueued a task): one more
    # racer. Whoever held the lock, the stack ends with exactly one job per component.
    wait_for(lambda: deployment.__class__.objects.get(pk=deployment.pk).status == "RUNNING", message="RUNNING")
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    assert Job.objects.filter(usecase_deployment_id=deployment.pk).count() == 4
    assert ComponentDeployment.objects.filter(deployment=deployment).count() == 4
