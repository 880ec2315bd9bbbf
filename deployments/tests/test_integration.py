"""Deployments driven by real Celery worker processes on the configured broker and the test database."""

from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from conftest import broker_reachable, start_celery_worker, stop_celery_worker
from core.testing import client_for, wait_for
from deployments import services
from deployments.models import DeploymentEvent, UseCaseDeployment
from deployments.selectors import service_gap_seconds
from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster, seed_system_templates
from jobs.models import Job
from templates_app.models import UseCaseTemplate
from templates_app.parameters import parameters_schema
from templates_app.selectors import template_get_for_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def conftest_database_url() -> str:
    """The test database's URL, for a second connection of our own."""
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port", "password")}
    )


def waiting_on_locks(conn) -> int:
    """Sessions of the test database waiting for a lock. `conn` must be in autocommit: inside a transaction
    pg_stat_activity is a snapshot taken at its first read."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    return conn.execute(query).fetchone()[0]


def minimal_parameters(schema: dict) -> dict:
    """A valid parameter set: the required parameters without defaults, filled by type."""
    values = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if "default" in prop:
            continue
        if "enum" in prop:
            values[name] = prop["enum"][0]
        elif prop.get("type") == "integer":
            values[name] = max(1, prop.get("minimum", 1))
        elif prop.get("type") == "number":
            values[name] = max(1.0, prop.get("minimum", 1.0))
        elif prop.get("type") == "boolean":
            values[name] = True
        elif prop.get("type") == "array":
            values[name] = []
        else:
            values[name] = "meta-llama/Llama-3.1-8B-Instruct"
    return values


def post_simple_rag(client, project, cluster) -> str:
    """Deploy simple-rag-v1 through the API; the new deployment's id."""
    body = {
        "template_id": "simple-rag-v1",
        "project_id": str(project.pk),
        "cluster_id": str(cluster.pk),
        "parameters": SIMPLE_RAG_PARAMS,
    }
    response = client.post("/api/v1/deployments", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def heal_with_the_stale_sweep(deployment_id) -> None:
    """Run the beat's stale sweep (anything not reconciled since now) until the deployment is RUNNING."""
    wait_for(
        lambda: (
            services.deployments_requeue_stale(stale_after=timedelta(0)) >= 0
            and deployment_status(deployment_id) == "RUNNING"
        ),
        timeout=60,
        interval=0.5,
        message="RUNNING after the worker was killed",
    )


def deployment_status(deployment_id):
    return UseCaseDeployment.objects.get(pk=deployment_id).status


def test_simple_rag_deploys_in_dependency_order_with_a_real_worker(celery_worker_process, tenant, project, member_user):
    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-int", startup=0.3)
    client = client_for(member_user)
    deployment_id = post_simple_rag(client, project, cluster)
    wait_for(lambda: deployment_status(deployment_id) == "RUNNING", timeout=60, message="RUNNING")
    events = DeploymentEvent.objects.filter(deployment_id=deployment_id)
    running = list(events.filter(kind="component_status", data__status="RUNNING").values_list("data__key", flat=True))
    submitted = list(events.filter(kind="component_submitted").values_list("data__key", flat=True))
    assert submitted[-1] == "orchestrator"
    # the orchestrator was submitted only after the three others were RUNNING
    orchestrator_submitted = events.get(kind="component_submitted", data__key="orchestrator").id
    for key in ("vector-db", "embedding", "llm"):
        assert events.get(kind="component_status", data__key=key, data__status="RUNNING").id < orchestrator_submitted
    assert running[-1] == "orchestrator"
    components = {c["key"]: c for c in client.get(f"/api/v1/deployments/{deployment_id}/components").json()}
    for key, variable in (("vector-db", "VECTOR_DB_URL"), ("embedding", "EMBEDDING_URL"), ("llm", "LLM_URL")):
        assert components["orchestrator"]["env"][variable] == components[key]["outputs"]["url"]


def test_every_system_template_deploys(celery_worker_process, tenant, project, member_user):
    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-all")
    ids = []
    templates = UseCaseTemplate.objects.filter(is_system=True, is_active=True)
    assert templates.count() >= 5
    for template in templates:
        template = template_get_for_user(user=member_user, template_id=template.api_id)
        deployment, _ = services.deployment_create(
            user=member_user,
            template=template,
            project=project,
            cluster=cluster,
            parameters=minimal_parameters(parameters_schema(template)),
        )
        ids.append(deployment.pk)
    for deployment_id in ids:
        wait_for(
            lambda deployment_id=deployment_id: deployment_status(deployment_id) == "RUNNING",
            timeout=60,
            message=f"{deployment_id} RUNNING",
        )


def test_a_worker_killed_mid_deployment_heals(tenant, project, member_user):
    """SIGKILL the worker while a deployment is half-way; a new worker plus the stale sweep finish the job."""
    reason = broker_reachable()
    if reason:
        pytest.skip(f"no Celery broker reachable ({reason})")
    from config.celery_app import app

    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-kill", startup=1.5)
    queue = "kill-test"
    original_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue  # this test's tasks go to workers it owns, not the session worker
    first = start_celery_worker(name="doomed", queue=queue, concurrency=1, log_name="test-worker-doomed.log")
    try:
        template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
        deployment, _ = services.deployment_create(
            user=member_user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS
        )
        wait_for(
            lambda: deployment.components.filter(job__isnull=False).exists(),
            timeout=90,  # a worker starting on SQLite's filesystem broker on a loaded machine
            message="first components submitted",
        )
        stop_celery_worker(first, kill=True)
        assert deployment_status(deployment.pk) == "DEPLOYING"
        second = start_celery_worker(name="rescuer", queue=queue, concurrency=1, log_name="test-worker-rescuer.log")
        try:
            heal_with_the_stale_sweep(deployment.pk)
        finally:
            stop_celery_worker(second)
    finally:
        app.conf.task_default_queue = original_queue
        if first.poll() is None:
            stop_celery_worker(first, kill=True)


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="holds a row lock from a second connection")
def test_a_worker_killed_inside_a_reconcile_pass_leaves_nothing_half_done(tenant, project, member_user):
    """SIGKILL the worker while its pass is blocked half-way (after starting to submit a job): the pass's
    transaction dies with it, and the next pass starts each component exactly once."""
    reason = broker_reachable()
    if reason:
        pytest.skip(f"no Celery broker reachable ({reason})")
    from config.celery_app import app

    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-kill-mid")
    queue = "kill-mid-test"
    original_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    first = None
    blocker = psycopg.connect(conftest_database_url(), autocommit=False)
    observer = psycopg.connect(conftest_database_url(), autocommit=True)
    try:
        template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
        deployment, _ = services.deployment_create(
            user=member_user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS
        )  # its reconcile task waits in this test's queue: no worker consumes it yet
        # Hold the cluster's row: the pass blocks on its first job submission, inside its transaction.
        blocker.execute("SELECT id FROM jobs_cluster WHERE id = %s FOR UPDATE", [cluster.pk])
        # Two processes: one takes the reconcile task and blocks, the other answers the start-up ping.
        first = start_celery_worker(name="doomed-mid", queue=queue, concurrency=2, log_name="test-worker-mid.log")

        wait_for(lambda: waiting_on_locks(observer) >= 1, timeout=30, message="the worker's pass to block")
        stop_celery_worker(first, kill=True)  # its pool processes die with it (celery sets PR_SET_PDEATHSIG)
        blocker.rollback()  # the orphaned backend now runs on, finds its client gone, and rolls back
        wait_for(lambda: waiting_on_locks(observer) == 0, timeout=30, message="the killed pass to end")
        blocker.rollback()
        assert not Job.objects.filter(usecase_deployment_id=deployment.pk).exists()  # nothing half-submitted
        assert not deployment.components.filter(job__isnull=False).exists()
        second = start_celery_worker(name="rescuer-mid", queue=queue, concurrency=1, log_name="test-worker-rescuer.log")
        try:
            heal_with_the_stale_sweep(deployment.pk)
        finally:
            stop_celery_worker(second)
        jobs = Job.objects.filter(usecase_deployment_id=deployment.pk)
        assert sorted(jobs.values_list("labels__usecase.component", flat=True)) == sorted(
            ["vector-db", "embedding", "llm", "orchestrator"]
        )  # one job each: nothing from the killed pass survived to be submitted twice
    finally:
        blocker.close()
        observer.close()
        app.conf.task_default_queue = original_queue
        if first is not None and first.poll() is None:
            stop_celery_worker(first, kill=True)


def test_update_with_a_real_worker_has_no_gap_in_service(celery_worker_process, tenant, project, member_user):
    seed_system_templates()
    cluster = make_cluster(tenant=tenant, name="sim-update", startup=0.5)
    client = client_for(member_user)
    deployment_id = post_simple_rag(client, project, cluster)
    wait_for(lambda: deployment_status(deployment_id) == "RUNNING", timeout=60, message="RUNNING")
    response = client.patch(
        f"/api/v1/deployments/{deployment_id}", {"parameters": {"model_id": "Qwen/Qwen2.5-7B-Instruct"}}, format="json"
    )
    assert response.status_code == 202, response.json()
    wait_for(
        lambda: UseCaseDeployment.objects.get(pk=deployment_id).revision == 2, timeout=60, message="revision 2 applied"
    )
    assert deployment_status(deployment_id) == "RUNNING"
    assert service_gap_seconds(deployment_id=deployment_id, key="llm") == 0
    components = {c["key"]: c for c in client.get(f"/api/v1/deployments/{deployment_id}/components").json()}
    assert components["orchestrator"]["env"]["LLM_URL"] == components["llm"]["outputs"]["url"]
    assert components["llm"]["outputs"]["url"].split("//")[1].startswith(components["llm"]["outputs"]["host"])
