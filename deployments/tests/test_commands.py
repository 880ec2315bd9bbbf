import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from deployments import reconciler, services
from deployments.models import UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, bring_up_on_slow_cluster, make_cluster
from templates_app.models import UseCaseTemplate
from templates_app.selectors import template_get_for_user
from templates_app.services import template_fork, template_update

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def deployed(templates, member_user, project, cluster):
    output = run(
        "deploy",
        "simple-rag-v1",
        "--project",
        project.name,
        "--cluster",
        cluster.name,
        "--user",
        member_user.username,
        "--param",
        "model_id=meta-llama/Llama-3.1-8B-Instruct",
        "--inline",
    )
    return output, UseCaseDeployment.objects.get()


def test_deploy_inline_shows_progress_until_running(deployed):
    output, deployment = deployed
    assert deployment.status == "RUNNING"
    assert "orchestrator" in output
    assert "[##############################] 4/4 RUNNING" in output
    assert output.rstrip().endswith("RUNNING: All 4 components are running.")


def test_deploy_with_bad_parameter_exits_with_the_field(templates, member_user, project, cluster):
    with pytest.raises(CommandError):
        run(
            "deploy",
            "simple-rag-v1",
            "--project",
            project.name,
            "--cluster",
            cluster.name,
            "--user",
            member_user.username,
            "--param",
            "vector_db_size=7Gi",
        )
    assert not UseCaseDeployment.objects.exists()


def test_deployments_lists_them(deployed):
    _, deployment = deployed
    output = run("deployments")
    assert str(deployment.pk) in output
    assert "RUNNING" in output
    assert "4/4" in output


def update_model_inline(deployment, user) -> str:
    """`deploy --update ID --param model_id=... --yes --inline`: its output."""
    model = "model_id=mistralai/Mistral-7B-Instruct-v0.3"
    return run("deploy", "--update", str(deployment.pk), "--param", model, "--user", user.username, "--yes", "--inline")


def test_update_prints_plan_and_applies_with_yes(deployed, member_user):
    _, deployment = deployed
    output = update_model_inline(deployment, member_user)
    assert "llm                  replaced" in output
    assert "orchestrator         replaced   — it consumes llm.url, which changes" in output
    assert "Revision 2: applied.\n" in output
    deployment.refresh_from_db()
    assert deployment.revision == 2


def test_scale_asks_for_confirmation(deployed, member_user, monkeypatch):
    _, deployment = deployed
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)  # a person at a terminal
    output = run("deploy", "--scale", str(deployment.pk), "llm=2", "--user", member_user.username)
    assert "llm                  scaled" in output
    assert "Nothing changed." in output
    assert deployment.revisions.count() == 1


def test_rollback_by_command(deployed, member_user):
    _, deployment = deployed
    run("deploy", "--scale", str(deployment.pk), "llm=2", "--user", member_user.username, "--yes", "--inline")
    output = run("deploy", "--rollback", str(deployment.pk), "1", "--user", member_user.username, "--yes", "--inline")
    assert "Revision 3: applied." in output
    deployment.refresh_from_db()
    assert deployment.components.get(key="llm", retired_at__isnull=True).resources["replicas"] == 1


def deploy_args(template_id, project, cluster, user, *extra) -> list[str]:
    return [
        "deploy",
        template_id,
        "--project",
        project.name,
        "--cluster",
        cluster.name,
        "--user",
        user.username,
        "--param",
        "model_id=meta-llama/Llama-3.1-8B-Instruct",
        *extra,
    ]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_deploy_wait_follows_the_worker_until_running(celery_worker_process, templates, member_user, project, cluster):
    output = run(*deploy_args("simple-rag-v1", project, cluster, member_user, "--wait", "--timeout", "60"))
    deployment = UseCaseDeployment.objects.get()
    assert deployment.status == "RUNNING"
    assert "[##############################] 4/4 RUNNING" in output
    assert output.rstrip().endswith("RUNNING: All 4 components are running.")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_deploy_wait_exits_1_when_the_deployment_fails(celery_worker_process, templates, member_user, project, tenant):
    # Every job fails as it starts, and the template allows no retry: the deployment fails in one pass.
    cluster = make_cluster(tenant=tenant, name="sim-broken", failure_rate=1.0)
    template = template_fork(
        user=member_user, template=UseCaseTemplate.objects.get(slug="simple-rag-v1", is_system=True), tenant=tenant
    )
    template = template_update(user=member_user, template=template, max_retries=0)
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            *deploy_args(str(template.pk), project, cluster, member_user, "--wait", "--timeout", "60"), stdout=out
        )
    assert exit_info.value.code == 1
    deployment = UseCaseDeployment.objects.get()
    assert deployment.status == "FAILED"
    assert out.getvalue().rstrip().endswith(f"FAILED: {deployment.status_message}")
    assert "Failed after 1 attempts: Simulated failure" in deployment.status_message


def test_update_exits_1_when_its_revision_fails(deployed, member_user):
    _, deployment = deployed
    deployment.cluster.simulation = {**deployment.cluster.simulation, "failure_rate": 1.0}
    deployment.cluster.save()
    args = ["deploy", "--update", str(deployment.pk), "--param", "model_id=mistralai/Mistral-7B-Instruct-v0.3"]
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command(*args, "--user", member_user.username, "--yes", "--inline", stdout=out)
    assert exit_info.value.code == 1
    assert "Revision 2: failed. llm: Replacement failed: Simulated failure" in out.getvalue()
    deployment.refresh_from_db()
    assert (deployment.status, deployment.revision) == ("RUNNING", 1)  # the old parts serve on


CANDIDATE_LINE = re.compile(r"^  (\S+) \[candidate r2\]\s+(\S+)")


def test_update_progress_counts_serving_components_and_prints_each_candidate_status_once(
    templates, member_user, project, tenant
):
    # A short real start-up: the inline passes see the new parts start, then run.
    cluster = make_cluster(tenant=tenant, name="sim-short", startup=0.3)
    run(*deploy_args("simple-rag-v1", project, cluster, member_user, "--inline"))
    deployment = UseCaseDeployment.objects.get()
    output = update_model_inline(deployment, member_user)
    lines = output.splitlines()
    assert "/6" not in output
    candidates: dict[str, list[str]] = {}
    for line in lines:
        if match := CANDIDATE_LINE.match(line):
            candidates.setdefault(match[1], []).append(match[2])
    assert candidates == {"llm": ["STARTING", "RUNNING"], "orchestrator": ["PENDING", "STARTING"]}
    assert sum(line.startswith("  vector-db ") and "RUNNING" in line for line in lines) == 1  # printed once
    bars = [line for line in lines if line.startswith("[")]
    full = "[##############################] 4/4"
    assert bars == [
        f"{full} UPDATING (revision 2: 0/2 new parts running)",
        f"{full} UPDATING (revision 2: 1/2 new parts running)",
        f"{full} RUNNING",
    ]
    assert "Revision 2: applied.\n" in output


def test_deployments_list_counts_serving_components_during_a_roll_out(templates, member_user, project, slow_cluster):
    start = timezone.now()
    template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
    with time_machine.travel(start, tick=False):
        deployment, _ = services.deployment_create(
            user=member_user, template=template, project=project, cluster=slow_cluster, parameters=SIMPLE_RAG_PARAMS
        )
    bring_up_on_slow_cluster(deployment.pk, start)
    with time_machine.travel(start + timedelta(seconds=20), tick=False):
        services.deployment_update(
            user=member_user, deployment=deployment, parameters={"model_id": "mistralai/Mistral-7B-Instruct-v0.3"}
        )
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        output = run("deployments")
    row = next(line for line in output.splitlines() if line.startswith(str(deployment.pk)))
    assert "UPDATING   4/4" in row
