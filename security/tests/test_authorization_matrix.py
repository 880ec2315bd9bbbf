"""Every route times every kind of caller, generated from the OpenAPI schema and the URL configuration.

The expected status of each (method, route) for each caller is in `API_MATRIX` / `CONSOLE_MATRIX` of
authorization_table.py. A route
the schema or the URL configuration has and the table lacks fails the test, with the row to add (the statuses the
route answers now): check each status is what you intend, then paste the row.

Callers: anon(ymous), viewer / member / admin of tenant A (which owns every object in the paths), other (admin
of tenant B), superuser. Writes send an empty JSON body, so an allowed write is usually a 400, not a change;
every request runs in a savepoint that is rolled back, so one caller's DELETE does not change the next one's world.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from audit.models import AuditEvent
from autoscaling.models import WarmPool
from billing.invoices import invoice_refresh
from billing.models import Budget, PriceList
from components.models import ComponentDefinition
from deployments import services as deployment_services
from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster, seed_system_templates
from jobs.models import ClusterQueue, ClusterSet, LocalQueue
from jobs.tests.factories import submit_job
from observability.models import Alert, AlertRule, NotificationChannel
from security import services as security_services
from security.tests.authorization_table import API_MATRIX, CALLERS, CONSOLE_MATRIX
from serving import services as serving_services
from templates_app import services as template_services
from templates_app.selectors import template_get_for_user
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, ProjectFactory, TenantFactory, UserFactory
from usecases.tests.factories import make_usecase

METHODS = ("get", "post", "put", "patch", "delete")
TABLE_FILE = "security/tests/authorization_table.py"


class _Rollback(Exception):
    pass


def _world() -> dict:
    """Tenant A with one of everything, its viewer/member/admin, tenant B's admin, a superuser."""
    seed_system_templates()
    tenant_a, tenant_b = TenantFactory(name="Matrix A"), TenantFactory(name="Matrix B")
    users = {"anon": None, "superuser": UserFactory(username="m-root", is_superuser=True, is_staff=True)}
    for caller, tenant, role in (
        ("viewer", tenant_a, Membership.Role.VIEWER),
        ("member", tenant_a, Membership.Role.MEMBER),
        ("admin", tenant_a, Membership.Role.ADMIN),
        ("other", tenant_b, Membership.Role.ADMIN),
    ):
        users[caller] = UserFactory(username=f"m-{caller}")
        MembershipFactory(user=users[caller], tenant=tenant, role=role)
    admin = users["admin"]
    project = ProjectFactory(tenant=tenant_a, name="matrix")
    cluster = make_cluster(tenant=tenant_a, name="matrix-sim")
    template = template_get_for_user(user=admin, template_id="simple-rag-v1")
    deployment, _ = deployment_services.deployment_create(
        user=admin, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS
    )
    fork = template_services.template_fork(user=admin, template=template, tenant=tenant_a, slug="matrix-fork")
    job = submit_job(cluster, project, "matrix-job")
    cluster_set = ClusterSet.objects.create(tenant=tenant_a, name="matrix-set")
    cluster_set.clusters.set([cluster])
    account = security_services.service_account_create(user=admin, tenant=tenant_a, name="ci", role="member")
    account_token, _ = security_services.token_create(user=admin, owner=account.user, name="ci")
    admin_token, _ = security_services.token_create(user=admin, owner=admin, name="laptop")
    usecase = make_usecase()
    event = AuditEvent.objects.filter(tenant_id=tenant_a.pk).first()
    invoice = invoice_refresh(tenant=tenant_a, month=date(2026, 3, 1))
    component_id = ComponentDefinition.objects.order_by("id").values_list("id", flat=True).first()
    rule = AlertRule.objects.create(deployment=deployment, name="matrix-rule", kind=AlertRule.Kind.DEGRADED)
    alert = Alert.objects.create(rule=rule, deployment=deployment, fired_at=timezone.now())
    channel = NotificationChannel.objects.create(
        tenant=tenant_a, name="matrix", kind=NotificationChannel.Kind.EMAIL, target={"emails": ["ops@example.com"]}
    )
    deployment_key, _ = serving_services.key_create(user=admin, deployment=deployment, name="matrix")
    budget = Budget.objects.create(tenant=tenant_a, project=project, name="matrix", amount=Decimal("100.00"))
    cluster_queue = ClusterQueue.objects.create(
        cluster=cluster, tenant=tenant_a, name="matrix-cq", nominal_quota={"gpus": {"H100-80GB": 4}}
    )
    local_queue = LocalQueue.objects.create(
        cluster=cluster, cluster_queue=cluster_queue, tenant=tenant_a, project=project, name="matrix-lq"
    )
    price_list = PriceList.objects.filter(cluster=cluster).first() or PriceList.objects.create(
        cluster=cluster, effective_from=timezone.now(), prices=cluster.prices
    )
    warm_pool = WarmPool.objects.create(tenant=tenant_a, cluster=cluster, project=project, gpu_type="H100-80GB", size=0)
    values = {
        "alert-rules": rule.pk,
        "alerts": alert.pk,
        "notification-channels": channel.pk,
        "deployments": deployment.pk,
        "clusters": cluster.pk,
        "cluster-sets": cluster_set.pk,
        "cluster_id": cluster.pk,
        "jobs": job.pk,
        "projects": project.pk,
        "tenants": tenant_a.pk,
        "templates": fork.pk,
        "components": component_id,
        "usecases": usecase.unique_id,
        "unique_id": usecase.unique_id,
        "service-accounts": account.pk,
        "token_id": account_token.pk,
        "tokens": admin_token.pk,
        "audit": event.pk,
        "invoices": invoice.pk,
        "member_key": users["member"].username,
        "revision": 1,
        "version": 1,
        "deployment_id": deployment.pk,
        "keys": deployment_key.pk,
        "budgets": budget.pk,
        "cluster-queues": cluster_queue.pk,
        "local-queues": local_queue.pk,
        "warm-pools": warm_pool.pk,
        "price-lists": price_list.pk,
        # console
        "key_id": deployment_key.pk,
        "verb": "rotate",
        "pk": deployment.pk,
        "template_id": "simple-rag-v1",
        "component_id": component_id,
        "job_id": job.pk,
        "queue_id": cluster_queue.pk,
        "local_id": local_queue.pk,
        "rule_id": rule.pk,
        "channel_id": channel.pk,
        "pool_id": warm_pool.pk,
    }
    return {"users": users, "values": values}


def _fill(route: str, values: dict) -> str:
    """A concrete path: `{id}` (and a console `{pk}`) takes the value of the collection before it, other names their
    own value."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        collection = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        if name == "id" or (name == "pk" and collection in values):  # the console's /alerts/{pk}: an alert's number
            return str(values[collection])
        return str(values[name])

    return re.sub(r"\{(\w+)\}", replace, route)


def _api_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in METHODS
    )


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _console_routes() -> list[str]:
    """The console's pages as paths with {names}, from its URL patterns (regexes with named groups)."""
    routes = []
    for pattern, entry in _walk(get_resolver().url_patterns):
        if entry.pattern.name is None or not pattern.startswith("^") or entry.lookup_str.split(".")[0] != "console":
            continue
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.lstrip("^").replace("/?$", "").rstrip("$"))
        routes.append("/" + route)
    return sorted(set(routes))


def _status(client: APIClient, method: str, path: str) -> int:
    try:
        with transaction.atomic():
            response = getattr(client, method.lower())(path, {}, format="json") if method != "GET" else client.get(path)
            raise _Rollback(response.status_code)
    except _Rollback as done:
        return done.args[0]


def _clients(users: dict) -> dict:
    clients = {}
    for caller in CALLERS:
        client = APIClient()
        client.raise_request_exception = False  # a server error is a status to report, not a crash of the test
        if users[caller] is not None:
            client.force_login(users[caller])
        clients[caller] = client
    return clients


def _compare(matrix: dict, routes: list[tuple[str, str]], clients: dict, values: dict, kind: str) -> list[str]:
    problems = []
    for method, route in routes:
        path = _fill(route, values)
        observed = {caller: _status(client, method, path) for caller, client in clients.items()}
        expected = matrix.get((method, route))
        crashed = [caller for caller, status in observed.items() if status >= 500]
        if crashed:
            problems.append(
                f"{method} {route} ({path}): server error for {crashed}; fix the view, a 5xx is never right"
            )
        elif expected is None:
            problems.append(
                f"{kind} route without an entry: add this line to {TABLE_FILE} ({kind}_MATRIX), after checking every "
                f"status is what you intend:\n    ({method!r}, {route!r}): {observed},"
            )
        elif expected != observed:
            wrong = {
                caller: f"expected {expected[caller]}, got {observed[caller]}"
                for caller in CALLERS
                if expected[caller] != observed[caller]
            }
            problems.append(f"{method} {route} ({path}): {wrong}")
    stale = set(matrix) - set(routes)
    problems.extend(f"{kind}_MATRIX has {method} {route}, which no longer exists: remove it" for method, route in stale)
    return problems


@pytest.mark.django_db
def test_every_route_answers_every_caller_as_the_table_says(settings):
    settings.API_THROTTLE_RATES = {"user": None, "anon": None, "expensive": None}
    world = _world()
    clients = _clients(world["users"])
    problems = _compare(API_MATRIX, _api_operations(), clients, world["values"], "API")
    problems += _compare(
        CONSOLE_MATRIX, [("GET", route) for route in _console_routes()], clients, world["values"], "CONSOLE"
    )
    assert not problems, "\n".join(problems)


def test_every_api_url_is_in_the_schema():
    """A view left out of the OpenAPI schema would escape the matrix: every /api/ URL must be documented."""
    documented = {re.sub(r"\{\w+\}", "{}", path).rstrip("/") for _, path in _api_operations()}
    undocumented, checked = [], 0
    for pattern, _entry in _walk(get_resolver().url_patterns):
        pattern = pattern.replace("^", "")
        if not pattern.startswith("api/") or "schema" in pattern or "docs" in pattern:
            continue
        route = re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>", "{}", pattern)
        route = "/" + route.replace("/?$", "").replace("$", "").replace("\\.(?P<format>[a-z0-9]+)", "").rstrip("/")
        if "(?P<format>" in pattern or route.endswith(".{}"):
            continue
        checked += 1
        if route not in documented:
            undocumented.append(route)
    assert checked >= len(documented) // 2, "the URL walk found too few API routes: is it still reading the resolver?"
    assert not undocumented, (
        f"API URLs missing from the OpenAPI schema (so from the authorization matrix): {undocumented}"
    )
