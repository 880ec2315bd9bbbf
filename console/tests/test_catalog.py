import uuid

import pytest
from django.urls import NoReverseMatch, reverse

from console import urls as console_urls
from templates_app.models import UseCaseTemplate

pytestmark = pytest.mark.django_db

# A value for every argument a console route takes; a route with a new argument fails the login test until added.
ROUTE_ARGUMENTS = {
    "template_id": "simple-rag-v1",
    "pk": str(uuid.uuid4()),
    "component_id": "qdrant",
    "unique_id": "hc_1",
    "job_id": str(uuid.uuid4()),
    "queue_id": str(uuid.uuid4()),
    "key_id": str(uuid.uuid4()),
    "verb": "rotate",
    "rule_id": str(uuid.uuid4()),
    "channel_id": str(uuid.uuid4()),
    "local_id": str(uuid.uuid4()),
    "pool_id": str(uuid.uuid4()),
}


def _reverse(route) -> str:
    """The route's path with a value for each argument; a numeric `pk` where the route takes a number (alerts)."""
    kwargs = {name: ROUTE_ARGUMENTS[name] for name in route.pattern.regex.groupindex}
    try:
        return reverse(f"console:{route.name}", kwargs=kwargs)
    except NoReverseMatch:
        return reverse(f"console:{route.name}", kwargs={**kwargs, "pk": "1"})


def _console_paths() -> list:
    return [pytest.param(_reverse(route), id=route.name) for route in console_urls.urlpatterns]


@pytest.mark.parametrize("path", _console_paths())
@pytest.mark.parametrize("method", ["get", "post"])
def test_pages_need_a_login(client, db, path, method):
    response = getattr(client, method)(path)
    assert response.status_code == 302, path
    assert response["Location"].startswith("/accounts/login/?next=")


def test_login_page_is_styled_and_logs_in(client, member_user):
    member_user.set_password("s3cret-pass")
    member_user.save()
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content
    assert b"console.css" in page.content
    response = client.post("/accounts/login/", {"username": member_user.username, "password": "s3cret-pass"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_home_links_every_page_and_admin_only_for_staff(member_web, staff_web, templates):
    page = member_web.get("/").content.decode()
    for href in ('href="/usecases"', 'href="/deployments"', 'href="/components"', 'href="/slo"', 'href="/api/docs"'):
        assert href in page
    assert 'href="/admin/"' not in page
    assert 'href="/admin/"' in staff_web.get("/").content.decode()


def test_catalog_lists_system_templates_as_cards(member_web, templates):
    response = member_web.get("/usecases")
    assert response.status_code == 200
    page = response.content.decode()
    active = UseCaseTemplate.objects.filter(is_system=True, is_active=True, deleted_at__isnull=True)
    assert [t.api_id for t in response.context["templates"]] == [t.api_id for t in active]
    assert "Simple RAG" in page
    assert "<code>qdrant</code>" in page  # the components it deploys
    assert 'href="/usecases/deploy/simple-rag-v1"' in page


def test_catalog_filters_by_category(member_web, templates):
    response = member_web.get("/usecases", {"category": "chatbot"})
    categories = {t.category for t in response.context["templates"]}
    assert categories == {"chatbot"}


def test_catalog_filters_by_tags_and_searches(member_web, templates):
    tagged = member_web.get("/usecases", {"tags": "beginner"}).context["templates"]
    assert tagged and all("beginner" in t.tags for t in tagged)
    found = member_web.get("/usecases", {"q": "enterprise"}).context["templates"]
    assert [t.api_id for t in found] == ["enterprise-rag-v1"]


def test_catalog_reports_an_invalid_filter(member_web, templates):
    response = member_web.get("/usecases", {"category": "nope"})
    assert response.status_code == 200
    assert response.context["templates"] == []
    assert "category" in response.context["errors"]


def test_catalog_query_count_is_constant(member_web, templates, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        assert member_web.get("/usecases").status_code == 200


def test_template_detail_draws_the_component_graph(member_web, templates):
    response = member_web.get("/usecases/simple-rag-v1")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page
    graph = response.context["graph"]
    columns = {node.key: node.x for node in graph.nodes}
    assert columns["orchestrator"] > columns["llm"] == columns["vector-db"] == columns["embedding"]
    assert {(e.source, e.target) for e in graph.edges} == {
        ("vector-db", "orchestrator"),
        ("embedding", "orchestrator"),
        ("llm", "orchestrator"),
    }
    assert "orchestrator after" in graph.description


def test_template_detail_lists_parameters_with_types_and_defaults(member_web, templates):
    response = member_web.get("/usecases/simple-rag-v1")
    parameters = {p["name"]: p for p in response.context["parameters"]}
    assert parameters["model_id"]["required"] is True
    assert parameters["model_id"]["type"] == "model_ref"
    assert parameters["vector_db_size"]["schema"]["default"] == "50Gi"
    assert "10Gi, 50Gi, 100Gi" in response.content.decode()
    assert 'href="/usecases/deploy/simple-rag-v1"' in response.content.decode()


def test_unknown_template_is_404(member_web, templates):
    assert member_web.get("/usecases/no-such-template").status_code == 404


def test_another_tenants_user_template_is_404(member_web, other_member_user, other_tenant, templates):
    from templates_app import services

    system = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    fork = services.template_fork(template=system, tenant=other_tenant, user=other_member_user)
    assert member_web.get(f"/usecases/{fork.pk}").status_code == 404
    assert member_web.get(f"/usecases/deploy/{fork.pk}").status_code == 404


def test_the_nav_marks_only_the_current_section(member_web, templates):
    page = member_web.get("/usecases/deploy/simple-rag-v1").content.decode()
    assert page.count('aria-current="page"') == 1
    assert '<a href="/usecases" aria-current="page">Catalog</a>' in page


def test_template_detail_shows_dependencies_implied_by_output_references(member_web, templates):
    # simple-chatbot-v1's UI has no depends_on: it waits for the LLM because it uses the LLM's url
    response = member_web.get("/usecases/simple-chatbot-v1")
    rows = {c["id"]: c["needs"] for c in response.context["components"]}
    assert rows == {"llm": [], "chat-ui": ["llm"]}
    assert [(e.source, e.target) for e in response.context["graph"].edges] == [("llm", "chat-ui")]


def _fork_for(tenant, user, *, name: str) -> UseCaseTemplate:
    from templates_app import services

    system = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    return services.template_fork(template=system, tenant=tenant, user=user, name=name)


def test_catalog_hides_another_tenants_user_templates(
    member_web, other_web, other_member_user, other_tenant, templates
):
    fork = _fork_for(other_tenant, other_member_user, name="Olga's private RAG")
    assert fork.pk not in {t.pk for t in member_web.get("/usecases").context["templates"]}
    assert "Olga&#x27;s private RAG" not in member_web.get("/usecases").content.decode()
    assert fork.pk in {t.pk for t in other_web.get("/usecases").context["templates"]}


def test_catalog_shows_the_users_own_tenants_templates(member_web, member_user, tenant, templates):
    fork = _fork_for(tenant, member_user, name="Our RAG")
    assert fork.pk in {t.pk for t in member_web.get("/usecases").context["templates"]}


def test_preview_of_another_tenants_template_is_404(
    member_web, other_member_user, other_tenant, templates, project, cluster
):
    fork = _fork_for(other_tenant, other_member_user, name="Olga's private RAG")
    data = {"project": str(project.pk), "cluster": str(cluster.pk), "parameters-model_id": "x"}
    assert member_web.post(f"/usecases/deploy/{fork.pk}/preview", data).status_code == 404


def test_preview_with_another_tenants_cluster_is_a_cluster_field_error(member_web, templates, project, other_cluster):
    data = {
        "project": str(project.pk),
        "cluster": str(other_cluster.pk),
        "parameters-model_id": "meta-llama/Llama-3.1-8B-Instruct",
    }
    response = member_web.post("/usecases/deploy/simple-rag-v1/preview", data)
    assert response.status_code == 200
    assert response.context["preview"] is None
    assert response.context["problems"] == [
        ("id_cluster", "Cluster", "Select a valid choice. That choice is not one of the available choices.")
    ]
    assert str(other_cluster.pk) not in response.content.decode()
