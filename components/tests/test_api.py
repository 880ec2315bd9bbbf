import pytest

from components.models import ComponentDefinition
from components.tests.factories import ComponentDefinitionFactory
from templates_app.tests.conftest import SHIPPED_COMPONENTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(db):
    from templates_app.seeding import seed_templates

    assert seed_templates().errors == []


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def test_anonymous_is_401(api_client):
    assert api_client.get("/api/v1/components").status_code == 401


def test_list_shows_active_components_to_any_member(registry, viewer_client):
    ComponentDefinition.objects.filter(pk="chroma").update(is_active=False)
    body = viewer_client.get("/api/v1/components").json()
    assert body["count"] == len(SHIPPED_COMPONENTS) - 1
    assert "chroma" not in [row["id"] for row in body["results"]]


def test_inactive_component_is_listed_only_when_asked_and_its_detail_says_so(registry, member_client):
    ComponentDefinition.objects.filter(pk="vllm").update(is_active=False)
    assert "vllm" not in ids(member_client.get("/api/v1/components?limit=100"))
    assert "vllm" not in ids(member_client.get("/api/v1/components/search?deployment_type=MODEL"))
    assert ids(member_client.get("/api/v1/components?is_active=false")) == ["vllm"]
    for ref in ("vllm", "vllm-endpoint"):
        response = member_client.get(f"/api/v1/components/{ref}")
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["is_active"]) == ("vllm", False)


def test_retrieve_has_chart_image_ports_and_outputs(registry, member_client):
    body = member_client.get("/api/v1/components/qdrant").json()
    assert body["helm_chart"] == "qdrant"
    assert body["helm_repo"] == "https://qdrant.github.io/qdrant-helm"
    assert body["health_check_path"] == "/readyz"
    assert [o["name"] for o in body["outputs"]] == ["url", "grpc_url"]
    assert body["default_resources"] == {"cpu": 2, "memory_gib": 8, "gpu_count": 0}


def test_retrieve_by_alias_answers_the_canonical_definition(registry, member_client):
    response = member_client.get("/api/v1/components/vllm-endpoint/")
    assert response.status_code == 200
    assert response.json()["id"] == "vllm"


def test_unknown_component_is_404(registry, member_client):
    response = member_client.get("/api/v1/components/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "No component 'nope'.", "errors": {}}


def test_search_by_category(registry, member_client):
    response = member_client.get("/api/v1/components/search?category=vector_db")
    assert sorted(ids(response)) == ["chroma", "milvus", "qdrant", "weaviate"]


def test_search_by_deployment_type_and_tags(registry, member_client):
    assert sorted(ids(member_client.get("/api/v1/components/search?deployment_type=MODEL"))) == [
        "latentbud",
        "tensorrt-llm",
        "vllm",
    ]
    assert ids(member_client.get("/api/v1/components/search?tags=vector-db,hybrid-search")) == ["weaviate"]


def test_search_by_text(registry, member_client):
    assert ids(member_client.get("/api/v1/components/search?text=cross-encoder")) == ["reranker"]
    assert ids(member_client.get("/api/v1/components?q=PagedAttention")) == ["vllm"]


def test_list_query_count_is_constant(member_client, django_assert_max_num_queries):
    ComponentDefinitionFactory.create_batch(3)
    with django_assert_max_num_queries(3):
        assert member_client.get("/api/v1/components").status_code == 200
    ComponentDefinitionFactory.create_batch(30)
    with django_assert_max_num_queries(3):
        assert member_client.get("/api/v1/components/search").json()["count"] == 33


def test_registry_is_read_only_through_the_api(registry, superuser_client):
    assert superuser_client.post("/api/v1/components", {"id": "x"}).status_code == 405
    assert superuser_client.delete("/api/v1/components/qdrant").status_code == 405
    assert ComponentDefinition.objects.filter(pk="qdrant").exists()
