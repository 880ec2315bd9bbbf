"""The command line says what it does and what is wrong in words (issue 14): a change without --yes and without
a terminal is refused, list parameters take commas, plans read like the console's, long names end in an ellipsis,
and the embedded broker does not warn on every command."""

import logging

import pytest
from django.core.management import CommandError
from kombu import Connection

from config.settings.base import FILESYSTEM_BROKER_URL
from deployments.management.commands.deploy import parse_params
from deployments.models import UseCaseDeployment
from deployments.tests.test_commands import deployed, run  # noqa: F401 — the fixture is used by name
from templates_app.parameters import parameters_schema
from templates_app.selectors import template_get_for_user

pytestmark = pytest.mark.django_db


def test_update_without_yes_and_without_a_terminal_is_refused_clearly(deployed, member_user, monkeypatch):  # noqa: F811
    _, deployment = deployed
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    args = ("deploy", "--update", str(deployment.pk), "--param", "model_id=Qwen/Qwen2.5-7B-Instruct")
    with pytest.raises(CommandError, match="no terminal to ask on: use --yes"):
        run(*args, "--user", member_user.username)
    assert deployment.revisions.count() == 1


def test_end_of_input_at_the_question_is_refused_clearly(deployed, member_user, monkeypatch):  # noqa: F811
    _, deployment = deployed
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def no_answer(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_answer)
    with pytest.raises(CommandError, match="nothing changed"):
        run("deploy", "--scale", str(deployment.pk), "llm=2", "--user", member_user.username)
    assert deployment.revisions.count() == 1


def test_list_parameters_take_comma_separated_values(templates, member_user):
    schema = parameters_schema(template_get_for_user(user=member_user, template_id="simple-agent-v1"))
    assert parse_params(["tools_enabled=calculator,http_request"], schema) == {
        "tools_enabled": ["calculator", "http_request"]
    }
    assert parse_params(['tools_enabled=["calculator"]'], schema) == {"tools_enabled": ["calculator"]}
    assert parse_params(["tools_enabled=calculator"], schema) == {"tools_enabled": ["calculator"]}


def test_deploy_accepts_a_comma_separated_list(templates, member_user, project, cluster):
    run(
        *("deploy", "simple-agent-v1", "--project", project.name, "--cluster", cluster.name),
        *("--user", member_user.username, "--param", "model_id=meta-llama/Llama-3.1-8B-Instruct"),
        *("--param", "tools_enabled=calculator, http_request"),
    )
    assert UseCaseDeployment.objects.get().parameters["tools_enabled"] == ["calculator", "http_request"]


def test_plans_print_gpus_costs_and_values_for_people(deployed, member_user, monkeypatch):  # noqa: F811
    _, deployment = deployed
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    scale = run("deploy", "--scale", str(deployment.pk), "llm=3", "--user", member_user.username)
    assert "GPUs: +2 \u00d7 A100-80GB; hourly cost: $2.97/h \u2192 $7.27/h" in scale
    assert "{'" not in scale and "Decimal(" not in scale
    update = run(
        *("deploy", "--update", str(deployment.pk), "--param", "model_id=Qwen/Qwen2.5-7B-Instruct"),
        *("--user", member_user.username),
    )
    assert "model_id: meta-llama/Llama-3.1-8B-Instruct \u2192 Qwen/Qwen2.5-7B-Instruct" in update
    assert "GPUs: no change" in update


def test_deployments_table_marks_a_cut_name_with_an_ellipsis(templates, member_user, project, cluster):
    long_name = "a-deployment-name-longer-than-the-column"
    run(
        *("deploy", "simple-rag-v1", "--project", project.name, "--cluster", cluster.name, "--name", long_name),
        *("--user", member_user.username, "--param", "model_id=meta-llama/Llama-3.1-8B-Instruct"),
    )
    output = run("deployments")
    assert "a-deployment-name-longer-th\u2026 " in output
    assert long_name not in output


def test_the_embedded_broker_connects_without_a_hostname_warning(tmp_path, caplog):
    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "processed_folder": str(tmp_path)}
    with (
        caplog.at_level(logging.WARNING, logger="kombu"),
        Connection(FILESYSTEM_BROKER_URL, transport_options=folders) as conn,
    ):
        queue = conn.SimpleQueue("issue-14")
        queue.put({"hello": 1})
        message = queue.get(timeout=2)
        message.ack()
        queue.close()
    assert message.payload == {"hello": 1}
    assert "No hostname was supplied" not in caplog.text
