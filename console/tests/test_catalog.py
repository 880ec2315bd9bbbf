import pytest

from templates_app.models import UseCaseTemplate

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client, templates):
    for path in ("/", "/usecases", "/usecases/simple-rag-v1", "/deployments", "/components", "/slo"):
        response = client.get(path)
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
