"""The first reconcile pass runs in the creating transaction (no broker hop), and a wave is submitted in one call."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments import reconciler
from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.tests.factories import make_cluster
from deployments.tests.test_reconciler import deploy, rows
from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _first_pass_inline(settings):
    settings.DEPLOYMENTS_FIRST_PASS_INLINE = True  # the product's default (tests otherwise drive every pass)


# A simple-rag-v1 stack on a zero start-up cluster: three roots in one wave, the orchestrator in the next.
# 87 with a scheduling pass per job; 61 with two saves and two events per row; 39 with an INSERT of events per wave,
# a look-up of recorded attempts per wave and the orchestrator's passing "Waiting for" message written (issue 21).
# 36 since a pass reads the specs of only the jobs it starts, in one query of its own (issue 19: the lines' heads no
# longer carry every waiting job's encrypted spec), i.e. one query per wave here.
# 26 since a wave that fits and finds nobody waiting is admitted at once under the cluster's lock (`admit_new`: the
# capacity held and whether anyone waits in one statement, not the pass's sums, admitted jobs, lines, specs and
# queued update, nor the jobs read back after it): 5 fewer per wave (issue 21).
# SQLite: 32 (the counter's update and read per wave, a job's local queue looked up apart, and the jobs updated row
# by row).
# 25 since both waves' rows are written by one UPDATE at the end of the start loop (SQLite: 31).
FIRST_PASS_QUERIES = 25 if settings.IS_POSTGRES else 31
CLUSTER_LOCKS = 2  # one scheduling pass per wave, not one per job
# Inside the create (`deployment_first_pass`): neither the deployment's lock nor its rows' read, which the create
# inserted itself; the tenant is read for the jobs instead (it came with the lock's joins). The create's "created"
# event goes with the pass's one INSERT of events (the create itself writes one query less).
INLINE_FIRST_PASS_QUERIES = FIRST_PASS_QUERIES - 1


def test_create_brings_a_stack_up_without_the_broker(
    templates, member_user, project, cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deployment = deploy(member_user, project, cluster)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING"
    assert callbacks == []  # nothing for the broker: the pass ran inside, and RUNNING asks for no further pass
    assert {row.status for row in rows(deployment).values()} == {"RUNNING"}


def test_a_failed_first_pass_leaves_the_deployment_to_a_worker(templates, member_user, project, cluster, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("deployments.services.core.deployment_first_pass", broken)
    sent = []
    monkeypatch.setattr("deployments.services.core.reconcile_enqueue", lambda **kwargs: sent.append(kwargs))
    deployment = deploy(member_user, project, cluster)
    assert sent == [{"deployment_id": deployment.pk}]
    assert UseCaseDeployment.objects.get(pk=deployment.pk).status == "PENDING"


def test_first_pass_submits_each_wave_in_one_call(templates, member_user, project, cluster, settings):
    settings.DEPLOYMENTS_FIRST_PASS_INLINE = False  # so that the pass below is the first one
    deployment = deploy(member_user, project, cluster)
    with CaptureQueriesContext(connection) as ctx:
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
    sqls = [query["sql"] for query in ctx.captured_queries]
    assert len(sqls) <= FIRST_PASS_QUERIES
    # Both waves' rows are written by one UPDATE, and the pass's events (both waves' and the deployment's status) by
    # one INSERT; the orchestrator's "Waiting for" message is not written, its wave saves the row in the same pass.
    row_writes = [sql for sql in sqls if sql.startswith('UPDATE "deployments_componentdeployment"')]
    assert len(row_writes) == 1
    assert sum(1 for sql in sqls if sql.startswith('INSERT INTO "deployments_deploymentevent"')) == 1
    assert not any('FROM "jobs_job" WHERE "jobs_job"."component_deployment_id" IN' in sql for sql in sqls)
    assert sum(1 for sql in sqls if 'INSERT INTO "jobs_job"' in sql) == 2  # one insert per wave
    assert not any("ROW_NUMBER" in sql or sql.startswith('SELECT "jobs_job"') for sql in sqls)  # admitted at once
    if connection.features.has_select_for_update:  # SQLite locks the whole database instead: no FOR UPDATE to count
        locks = sum(
            1 for sql in sqls if sql.startswith('SELECT "jobs_cluster"') and "UPDATE" in sql.rsplit("FOR ", 1)[-1]
        )
        assert locks == CLUSTER_LOCKS
    sequences = dict(Job.objects.values_list("labels__usecase.component", "sequence"))
    assert sequences.pop("orchestrator") > max(sequences.values())  # the second wave queues behind the first
    assert len(set(sequences.values())) == 3
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING"


def test_a_wave_written_together_keeps_each_rows_events_in_order(templates, member_user, project, tenant, settings):
    # Every job fails as it starts: each root's row is recorded, fails and is retired with a retry, all in one wave.
    settings.DEPLOYMENTS_FIRST_PASS_INLINE = False
    cluster = make_cluster(tenant=tenant, name="flaky", failure_rate=1.0)
    deployment = deploy(member_user, project, cluster)
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    first = ComponentDeployment.objects.get(deployment=deployment, key="llm", attempt=1)
    assert first.status == "FAILED" and first.retired_at is not None
    assert first.job_id is not None and first.submitted_at is not None
    assert "Attempt 1 of 3 failed" in first.status_message
    events = DeploymentEvent.objects.filter(deployment=deployment, data__key="llm").order_by("id")
    assert [(event.kind, event.data.get("status")) for event in events] == [
        (DeploymentEvent.Kind.COMPONENT_SUBMITTED, None),
        (DeploymentEvent.Kind.COMPONENT_STATUS, "FAILED"),
        (DeploymentEvent.Kind.COMPONENT_RETRY_SCHEDULED, None),
    ]
    assert rows(deployment)["llm"].attempt == 2


# The create before its first pass (issue 21, fifth pass): the revision's number is known (1, no MAX query) and a
# generated name is chosen with one query whatever the number of deploys in the same second.
# 13: the template, a savepoint, budget caps, component definitions, the insert's savepoint, the live names of the
# second, the insert, its release, the rows, the revision, the event, the audit row and the release (23 before: the
# cluster's forecast, 4 reads for a predicted start the create did not use, the revision's MAX and one name query
# per suffix tried, here three).
CREATE_QUERIES = 13


def test_the_create_before_its_pass_reads_no_revision_count_and_names_in_one_query(
    templates, member_user, project, cluster, settings
):
    settings.DEPLOYMENTS_FIRST_PASS_INLINE = False
    for _ in range(3):  # names of this second already taken: -2, -3, -4 without one query per suffix tried
        deploy(member_user, project, cluster)
    with CaptureQueriesContext(connection) as ctx:
        deployment = deploy(member_user, project, cluster)
    sqls = [query["sql"] for query in ctx.captured_queries]
    assert not any('MAX("deployments_deploymentrevision"."number")' in sql for sql in sqls)
    assert sum(1 for sql in sqls if 'SELECT "deployments_usecasedeployment"."name"' in sql) == 1
    assert not any('FROM "jobs_job"' in sql for sql in sqls)  # no forecast: the create checks only never-fits
    assert len(sqls) <= CREATE_QUERIES
    assert deployment.revisions.get().number == 1
    names = UseCaseDeployment.objects.filter(cluster=cluster).values_list("name", flat=True)
    assert len(set(names)) == 4


def test_a_generated_name_taken_by_a_concurrent_create_is_generated_again(
    templates, member_user, project, cluster, monkeypatch
):
    first = deploy(member_user, project, cluster)
    from deployments.services import identity

    calls = []

    def racing(**kwargs):  # the first answer is the name another create inserted after this one's check
        calls.append(kwargs)
        return first.name if len(calls) == 1 else identity.deployment_name_generate(**kwargs)

    monkeypatch.setattr("deployments.services.core.deployment_name_generate", racing)
    second = deploy(member_user, project, cluster)
    assert len(calls) == 2
    assert second.name != first.name
    assert UseCaseDeployment.objects.get(pk=second.pk).status == "RUNNING"


def test_a_waves_rows_are_written_with_their_job_and_rendered_values(templates, member_user, project, cluster):
    deployment = deploy(member_user, project, cluster)
    for row in ComponentDeployment.objects.filter(deployment=deployment).select_related("job"):
        assert row.job is not None and row.job.component_deployment_id == row.pk
        assert row.submitted_at is not None and row.running_at is not None and row.has_run
        assert row.status == "RUNNING" and row.updated_at >= row.submitted_at
        assert isinstance(row.env, dict) and isinstance(row.config, dict)  # decrypted as written
        assert row.config == row.planned["config"] or row.key == "orchestrator"


def test_a_stack_that_can_never_fit_is_refused_without_a_forecast(templates, member_user, project, tenant):
    from core.exceptions import ValidationError

    tiny = make_cluster(tenant=tenant, name="tiny", cpu_cores=1, memory_gib=1)
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ValidationError) as raised:
        deploy(member_user, project, tiny)
    (message,) = raised.value.errors["cluster_id"]
    assert message.startswith("The cluster can never fit this deployment: [{'index': 0, 'reason': ")
    assert "cpu" in message.lower()
    assert not any('FROM "jobs_job"' in query["sql"] for query in ctx.captured_queries)
    assert not UseCaseDeployment.objects.exists()


def test_the_inline_first_pass_neither_locks_nor_reads_again_what_the_create_inserted(
    templates, member_user, project, cluster
):
    with CaptureQueriesContext(connection) as ctx:
        deployment = deploy(member_user, project, cluster)
    sqls = [query["sql"] for query in ctx.captured_queries]
    # The deployment and its rows were inserted by this transaction: nobody else can see them before it commits.
    assert not any(sql.startswith('SELECT "deployments_usecasedeployment"."id"') for sql in sqls)
    assert not any(sql.startswith('SELECT "deployments_componentdeployment"') for sql in sqls)
    inserted = next(i for i, sql in enumerate(sqls) if sql.startswith('INSERT INTO "deployments_componentdeployment"'))
    assert sqls[inserted + 1].startswith("SAVEPOINT")  # the pass follows the rows' insert
    first_pass = sqls[inserted + 1 : sqls.index(f"RELEASE {sqls[inserted + 1]}") + 1]
    assert len(first_pass) <= INLINE_FIRST_PASS_QUERIES
    # Its events open with the create's: one INSERT for all, "created" first on the timeline.
    assert sum(1 for sql in sqls if sql.startswith('INSERT INTO "deployments_deploymentevent"')) == 1
    kinds = list(DeploymentEvent.objects.filter(deployment=deployment).order_by("id").values_list("kind", flat=True))
    assert kinds[0] == DeploymentEvent.Kind.CREATED and kinds.count(DeploymentEvent.Kind.CREATED) == 1
    # The revision and the audit row follow the pass.
    assert [sql.split()[2] for sql in sqls[sqls.index(first_pass[-1]) + 1 :] if sql.startswith("INSERT")] == [
        '"deployments_deploymentrevision"',
        '"audit_auditevent"',
    ]
    assert deployment.revisions.get().number == 1
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING" and deployment.next_reconcile_at is None
    assert {row.status for row in rows(deployment).values()} == {"RUNNING"}
    assert Job.objects.filter(usecase_deployment_id=deployment.pk, status="RUNNING").count() == 4


def test_a_first_pass_that_fails_half_way_undoes_only_itself(templates, member_user, project, cluster, monkeypatch):
    def broken(self):
        raise RuntimeError("database went away")

    monkeypatch.setattr("deployments.passes.ReconcilePass.finish", broken)  # after both waves were submitted
    sent = []
    monkeypatch.setattr("deployments.services.core.reconcile_enqueue", lambda **kwargs: sent.append(kwargs))
    deployment = deploy(member_user, project, cluster)
    assert sent == [{"deployment_id": deployment.pk}]
    assert deployment.status == "PENDING"  # what the caller holds is the deployment as committed
    events = DeploymentEvent.objects.filter(deployment=deployment)
    assert [event.kind for event in events] == [DeploymentEvent.Kind.CREATED]  # undone with the pass, written alone
    assert not Job.objects.filter(usecase_deployment_id=deployment.pk).exists()
    assert {row.status for row in rows(deployment).values()} == {"PENDING"}
    assert {row.job_id for row in rows(deployment).values()} == {None}
