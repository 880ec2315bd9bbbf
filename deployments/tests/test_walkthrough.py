"""The README's curl walk-through, run as written against a live server and a real Celery worker: find the ids,
preview, deploy, watch, update, delete. A README example that stops working fails here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from deployments.models import UseCaseDeployment
from deployments.tests.factories import make_cluster, seed_system_templates
from security.services import token_create
from tenancy.tests.factories import ProjectFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the walk-through needs curl and jq"),
]


def readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"```bash\n# {marker}\n(.*?)```", text, flags=re.S)
    assert match, f"README.md has no ```bash block starting with '# {marker}'"
    return match.group(1)


def test_the_readme_curl_walk_through_works(celery_worker_process, live_server, tenant, member_user):
    seed_system_templates()
    ProjectFactory(tenant=tenant, name="default")
    make_cluster(tenant=tenant, name="sim-local", startup=0.2)
    _, key = token_create(user=member_user, owner=member_user, name="walk-through")
    env = {**os.environ, "BASE": live_server.url, "TOKEN": key}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_block("api-walkthrough")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = UseCaseDeployment.objects.get(name="my-rag")
    assert deployment.status == "DELETED"
    assert deployment.revision == 2
    assert deployment.parameters["model_id"] == "Qwen/Qwen2.5-7B-Instruct"
    assert '"start_order"' in result.stdout and "component_submitted" in result.stdout
