"""The whole OpenAPI schema, fuzzed: schemathesis generates requests for every operation from what the schema says
(bodies, query parameters, path ids) and sends them to the Django app in-process (WSGI), signed in as a tenant
admin with a project, a cluster and the system templates in place. No answer may be a 5xx, and every answer must
be one the schema documents, in the documented shape. Bounded (FUZZ_EXAMPLES per operation) so it runs in a couple
of minutes; `FUZZ_EXAMPLES=100 pytest core/tests/test_openapi_fuzz.py` digs deeper."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from deployments.tests.factories import make_cluster, seed_system_templates
from security.services import token_create
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, ProjectFactory, TenantFactory, UserFactory

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def signed_in(db) -> dict:
    """Data to act on and a token to act with: a tenant admin with a project, a cluster and the system templates."""
    seed_system_templates()
    tenant = TenantFactory(name="Fuzz")
    ProjectFactory(tenant=tenant, name="default")
    make_cluster(tenant=tenant, name="sim-local")
    user = UserFactory(username="fuzz-admin")
    MembershipFactory(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    _, key = token_create(user=user, owner=user, name="fuzz")
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Django's handler closes the database connection after each request; in a test that connection holds the
    test's transaction, so keep it open (as django.test.Client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _curl(failure: Exception) -> str:
    text = str(failure)
    return "\n" + text[text.find("curl ") :].splitlines()[0][:400] if "curl " in text else ""


def test_every_operation_answers_as_its_schema_says(signed_in, wsgi_keeps_the_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    failures = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            # Each call in a savepoint rolled back after it: a failing call cannot poison the next one's transaction.
            savepoint = transaction.savepoint()
            try:
                case.call_and_validate(headers=signed_in, checks=CHECKS)
            finally:
                transaction.savepoint_rollback(savepoint)

        try:
            answers_as_documented()
        except (Exception, BaseExceptionGroup) as failure:  # every operation is tried; failures reported together
            failures[operation.label] = str(failure).split("Reproduce with")[0].strip()[:600] + _curl(failure)
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
