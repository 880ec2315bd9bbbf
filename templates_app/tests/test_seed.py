"""seed_templates: version-based sync, prune, --check, and every bad-file case with its message."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from components.models import ComponentDefinition, ComponentVersion
from templates_app.models import TemplateRevision, UseCaseTemplate
from templates_app.seeding import seed_templates
from templates_app.selectors import template_content_at_version
from templates_app.tests.conftest import SHIPPED_TEMPLATES, C, T

pytestmark = pytest.mark.django_db

SIMPLE_RAG = "templates/rag/simple-rag-v1.yaml"


def run(*args) -> tuple[str, str, bool]:
    """(stdout, stderr, failed) of `manage.py seed_templates args`."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("seed_templates", *args, stdout=out, stderr=err)
    except CommandError:
        return out.getvalue(), err.getvalue(), True
    return out.getvalue(), err.getvalue(), False


def edit(path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write(system_dir, relative: str, text: str) -> None:
    target = system_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_first_sync_creates_components_templates_and_first_revisions():
    out, err, failed = run()
    assert not failed, err
    assert f"components: {C} created" in out
    assert f"templates: {T} created" in out
    assert sorted(UseCaseTemplate.objects.values_list("slug", flat=True)) == SHIPPED_TEMPLATES
    assert {"simple-rag-v1", "langgraph-agent-v1", "crewai-crew-v1", "research-agent-v1"} <= set(SHIPPED_TEMPLATES)
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    assert template.is_system and template.tenant is None
    assert template.source_file == SIMPLE_RAG
    assert template.revisions.get().revision == 1
    assert ComponentVersion.objects.count() == ComponentDefinition.objects.count() == C
    assert ComponentDefinition.objects.get(pk="vllm").aliases == ["vllm-endpoint"]


def test_second_unchanged_sync_writes_nothing():
    run()
    with CaptureQueriesContext(connection) as queries:
        out, _err, failed = run()
    assert not failed
    writes = [q["sql"] for q in queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.I)]
    assert writes == []
    assert f"0 created, 0 updated, {C} unchanged" in out
    assert TemplateRevision.objects.count() == T


def test_check_validates_and_writes_nothing():
    out, err, failed = run("--check")
    assert not failed, err
    assert f"check: templates: {T} created" in out
    assert UseCaseTemplate.objects.count() == 0
    assert ComponentDefinition.objects.count() == 0


def test_version_change_updates_and_keeps_the_earlier_revision(system_dir):
    seed_templates(path=system_dir)

    def bump(data):
        data["version"] = "1.1.0"
        data["parameters"][2]["default"] = "100Gi"

    edit(system_dir / SIMPLE_RAG, bump)
    result = seed_templates(path=system_dir)
    assert result.templates.updated == ["simple-rag-v1"]
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    assert template.version == "1.1.0"
    latest = template.revisions.order_by("-revision").first()
    assert (latest.revision, latest.version, latest.source) == (2, "1.1.0", "seed")
    assert latest.changed_fields == ["parameters", "version"]
    old = template_content_at_version(template=template, version="1.0.0")
    assert old["parameters"][2]["default"] == "50Gi"


def test_content_change_without_version_bump_is_skipped_with_a_warning(system_dir):
    seed_templates(path=system_dir)
    edit(system_dir / SIMPLE_RAG, lambda d: d.update(description="changed"))
    result = seed_templates(path=system_dir)
    assert result.templates.unchanged.count("simple-rag-v1") == 1
    assert result.warnings == [
        f"{SIMPLE_RAG}: version: content changed but version '1.0.0' did not; bump the version to apply it"
    ]
    assert UseCaseTemplate.objects.get(slug="simple-rag-v1").description != "changed"


def test_component_version_change_keeps_the_earlier_version(system_dir):
    seed_templates(path=system_dir)
    edit(system_dir / "components/qdrant.yaml", lambda d: d.update(version="1.1.0", image_tag="v1.13.0"))
    result = seed_templates(path=system_dir)
    assert result.components.updated == ["qdrant"]
    assert ComponentDefinition.objects.get(pk="qdrant").image_tag == "v1.13.0"
    versions = dict(ComponentVersion.objects.filter(definition_id="qdrant").values_list("version", "content"))
    assert versions["1.0.0"]["image_tag"] == "v1.12.4"
    assert versions["1.1.0"]["image_tag"] == "v1.13.0"


def test_prune_deactivates_rows_whose_file_is_gone(system_dir):
    seed_templates(path=system_dir)
    (system_dir / "templates/agent/simple-agent-v1.yaml").unlink()
    seed_templates(path=system_dir)
    assert UseCaseTemplate.objects.get(slug="simple-agent-v1").is_active  # only --prune deactivates
    out, _err, failed = run("--prune", "--path", str(system_dir))
    assert not failed
    assert "1 deactivated" in out
    assert not UseCaseTemplate.objects.get(slug="simple-agent-v1").is_active
    assert UseCaseTemplate.objects.filter(is_system=True, is_active=True).count() == T - 1


def test_pruned_template_is_reactivated_when_its_file_returns(system_dir):
    seed_templates(path=system_dir)
    path = system_dir / "templates/agent/simple-agent-v1.yaml"
    text = path.read_text()
    path.unlink()
    seed_templates(path=system_dir, prune=True)
    path.write_text(text)
    result = seed_templates(path=system_dir)
    assert result.templates.reactivated == ["simple-agent-v1"]
    assert UseCaseTemplate.objects.get(slug="simple-agent-v1").is_active


def test_bad_file_does_not_stop_the_others_and_exits_non_zero(system_dir):
    write(system_dir, "templates/rag/broken.yaml", "id: broken\nname: [unclosed\n")
    out, err, failed = run("--path", str(system_dir))
    assert failed
    assert f"templates: {T} created" in out
    assert UseCaseTemplate.objects.count() == T
    assert err.strip().startswith("templates/rag/broken.yaml: (yaml): YAML syntax error:")


BAD_CASES = {
    "yaml syntax": (
        "id: x\nname: X\n  category: rag\n",
        "templates/rag/bad.yaml: (yaml): YAML syntax error: mapping values are not allowed here (line 3, column 11)",
    ),
    "schema violation": (
        "id: bad\nname: Bad\ncategory: poetry\nversion: '1'\nparameters: []\n"
        "components: [{id: a, component_ref: redis}]\n",
        'templates/rag/bad.yaml: category: Must be one of "rag", "chatbot", "agent" (got "poetry").',
    ),
    "missing field": (
        "id: bad\nname: Bad\ncategory: rag\nparameters: []\ncomponents: [{id: a, component_ref: redis}]\n",
        "templates/rag/bad.yaml: version: this field is required",
    ),
    "unknown component_ref": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\nparameters: []\n"
        "components: [{id: a, component_ref: postgres}]\n",
        "templates/rag/bad.yaml: components.0.component_ref: unknown component 'postgres'",
    ),
    "cycle": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\nparameters: []\ncomponents:\n"
        "  - {id: a, component_ref: redis, depends_on: [b]}\n  - {id: b, component_ref: qdrant, depends_on: [a]}\n",
        "templates/rag/bad.yaml: components: dependency cycle: ",
    ),
    "undefined parameter": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\nparameters: []\ncomponents:\n"
        "  - {id: a, component_ref: qdrant, config: {persistence: {size: '{{ parameters.size }}'}}}\n",
        "templates/rag/bad.yaml: components.0.config.persistence.size: undefined parameter 'size'",
    ),
    "undefined component": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\nparameters: []\ncomponents:\n"
        "  - {id: ui, component_ref: chat-ui, env: {BACKEND_URL: \"{{ components['llm'].outputs.url }}\"}}\n",
        "templates/rag/bad.yaml: components.0.env.BACKEND_URL: undefined component 'llm'",
    ),
    "bad regex pattern": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\ncomponents: [{id: a, component_ref: redis}]\n"
        "parameters: [{name: tenant, type: string, pattern: '([a-z'}]\n",
        "templates/rag/bad.yaml: parameters.0.pattern: not a valid regex: unterminated character set at position 1",
    ),
    "bad regex pattern with a default": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\ncomponents: [{id: a, component_ref: redis}]\n"
        "parameters: [{name: tenant, type: string, pattern: '([a-z', default: abc}]\n",
        "templates/rag/bad.yaml: parameters.0.pattern: not a valid regex: unterminated character set at position 1",
    ),
    "unsafe expression": (
        "id: bad\nname: Bad\ncategory: rag\nversion: '1'\nparameters: []\ncomponents:\n"
        "  - {id: a, component_ref: redis, env: {X: \"{{ ''.__class__ }}\"}}\n",
        "templates/rag/bad.yaml: components.0.env.X: unsafe attribute '__class__' is refused by the sandbox",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_template_file_is_reported_with_path_field_and_reason(case, system_dir):
    text, expected = BAD_CASES[case]
    write(system_dir, "templates/rag/bad.yaml", text)
    out, err, failed = run("--check", "--path", str(system_dir))
    assert failed
    assert err.splitlines()[0].startswith(expected), err
    assert f"check: templates: {T} created" in out  # every other file still validates


def test_template_in_the_folder_of_another_category_is_reported(system_dir):
    chatbot = (system_dir / "templates/chatbot/simple-chatbot-v1.yaml").read_text()
    write(system_dir, "templates/rag/misfiled.yaml", chatbot.replace("simple-chatbot-v1", "misfiled-v1"))
    out, err, failed = run("--path", str(system_dir))
    assert failed
    assert err.splitlines() == [
        "templates/rag/misfiled.yaml: category: 'chatbot' does not match the folder templates/rag/ "
        "(a template lives in templates/<category>/)"
    ]
    assert f"templates: {T} created" in out
    assert not UseCaseTemplate.objects.filter(slug="misfiled-v1").exists()


def test_duplicate_id_is_reported_for_every_file_sharing_it(system_dir):
    write(system_dir, "templates/chatbot/copy.yaml", (system_dir / SIMPLE_RAG).read_text())
    _out, err, failed = run("--path", str(system_dir))
    assert failed
    assert err.splitlines() == [
        f"templates/chatbot/copy.yaml: id: duplicate id 'simple-rag-v1' (also in {SIMPLE_RAG})",
        f"{SIMPLE_RAG}: id: duplicate id 'simple-rag-v1' (also in templates/chatbot/copy.yaml)",
    ]
    assert not UseCaseTemplate.objects.filter(slug="simple-rag-v1").exists()
    assert UseCaseTemplate.objects.count() == T - 1


def test_bad_component_file_is_reported_and_templates_using_it_fail(system_dir):
    edit(system_dir / "components/chat-ui.yaml", lambda d: d.update(deployment_type="KUBECTL"))
    _out, err, failed = run("--path", str(system_dir))
    assert failed
    lines = err.splitlines()
    assert lines[0] == (
        'components/chat-ui.yaml: deployment_type: Must be one of "HELM", "DOCKER", "MODEL" (got "KUBECTL").'
    )
    assert "templates/chatbot/simple-chatbot-v1.yaml: components.1.component_ref: unknown component 'chat-ui'" in lines
    assert UseCaseTemplate.objects.filter(slug="simple-rag-v1").exists()


def test_bootstrap_is_idempotent():
    from templates_app.bootstrap import bootstrap

    out = io.StringIO()
    bootstrap(stdout=out)
    facts = bootstrap(stdout=out)
    assert facts == {"system_templates": T}
    assert TemplateRevision.objects.count() == T


def test_check_works_before_migrations(monkeypatch):
    from templates_app import seeding

    monkeypatch.setattr(seeding, "_registry_tables_exist", lambda: False)
    with CaptureQueriesContext(connection) as queries:
        result = seed_templates(check=True)
    assert result.errors == []
    assert len(result.templates.created) == T
    assert not [q for q in queries if "components_" in q["sql"] or "templates_app_" in q["sql"]]
