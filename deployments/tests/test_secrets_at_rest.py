"""Secret parameters are encrypted in every row that holds them; a dump of the database shows none in clear."""

import pytest
from django.core.management import call_command
from django.db import connection

from core.crypto import generate_key
from core.testing import db_id
from deployments import reconciler, services
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS
from jobs.models import Job
from templates_app.selectors import template_get_for_user

pytestmark = pytest.mark.django_db

FIRST_SECRET = "sk-live-first-4f9a1c0e7d"
SECOND_SECRET = "sk-live-second-8b2e6d3f01"


def database_dump() -> str:
    """Every row of every table, as text: what `pg_dump` or a stolen backup would show."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(str(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def deploy_agent(user, project, cluster, secret: str) -> UseCaseDeployment:
    template = template_get_for_user(user=user, template_id="simple-agent-v1")
    deployment, _ = services.deployment_create(
        user=user,
        template=template,
        project=project,
        cluster=cluster,
        parameters={**SIMPLE_RAG_PARAMS, "search_api_key": secret},
    )
    reconciler.deployment_reconcile(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "RUNNING", deployment.status_message
    return deployment


def test_a_database_dump_shows_no_secret_parameter(templates, member_user, project, cluster):
    deployment = deploy_agent(member_user, project, cluster, FIRST_SECRET)
    services.deployment_update(user=member_user, deployment=deployment, parameters={"search_api_key": SECOND_SECRET})
    reconciler.deployment_reconcile(deployment_id=deployment.pk)

    dump = database_dump()
    assert str(deployment.pk) in dump  # the dump did read the deployment's rows
    assert FIRST_SECRET not in dump
    assert SECOND_SECRET not in dump
    # The product still reads them: the job the driver runs carries the secret in its rendered env.
    specs = [job.spec for job in Job.objects.filter(component_deployment__deployment=deployment)]
    assert any(spec.get("env", {}).get("SEARCH_API_KEY") == SECOND_SECRET for spec in specs)


def test_rotating_the_key_re_encrypts_every_secret(templates, member_user, project, cluster, settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    deployment = deploy_agent(member_user, project, cluster, FIRST_SECRET)
    with connection.cursor() as cursor:
        cursor.execute("SELECT parameters FROM deployments_usecasedeployment WHERE id = %s", [db_id(deployment)])
        (before,) = cursor.fetchone()

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_key", stdout=None)
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone: everything must open with the new one

    deployment = UseCaseDeployment.objects.get(pk=deployment.pk)
    assert deployment.parameters["search_api_key"] == FIRST_SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT parameters FROM deployments_usecasedeployment WHERE id = %s", [db_id(deployment)])
        (after,) = cursor.fetchone()
    assert after != before
    assert all(row.env is not None for row in ComponentDeployment.objects.filter(deployment=deployment))
    assert all(job.spec for job in Job.objects.filter(component_deployment__deployment=deployment))
