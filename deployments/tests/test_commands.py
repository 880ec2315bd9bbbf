from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from deployments.models import UseCaseDeployment

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


def test_update_prints_plan_and_applies_with_yes(deployed, member_user):
    _, deployment = deployed
    output = run(
        "deploy",
        "--update",
        str(deployment.pk),
        "--param",
        "model_id=mistralai/Mistral-7B-Instruct-v0.3",
        "--user",
        member_user.username,
        "--yes",
        "--inline",
    )
    assert "llm                  replaced" in output
    assert "orchestrator         replaced   — it consumes llm.url, which changes" in output
    assert "Revision 2: applied." in output
    deployment.refresh_from_db()
    assert deployment.revision == 2


def test_scale_asks_for_confirmation(deployed, member_user, monkeypatch):
    _, deployment = deployed
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
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
