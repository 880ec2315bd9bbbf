import pytest
from jsonschema import Draft202012Validator

from templates_app.models import TemplateRevision, UseCaseTemplate
from templates_app.tests.conftest import T
from templates_app.tests.factories import UserTemplateFactory, chatbot_components
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def body(tenant, **overrides) -> dict:
    data = {
        "tenant_id": str(tenant.pk),
        "slug": "my-bot",
        "name": "My bot",
        "category": "chatbot",
        "parameters": [{"name": "model_id", "type": "model_ref", "required": True}],
        "components": chatbot_components(),
    }
    data.update(overrides)
    return data


@pytest.fixture
def own(member_client, tenant, seeded):
    response = member_client.post("/api/v1/templates", body(tenant))
    assert response.status_code == 201, response.json()
    return UseCaseTemplate.objects.get(pk=response.json()["uuid"])


# --- reading --------------------------------------------------------------------------------------------------


def test_list_shows_system_templates_and_own_tenants_only(member_client, seeded, tenant, other_tenant):
    mine = UserTemplateFactory(tenant=tenant)
    UserTemplateFactory(tenant=other_tenant)
    results = member_client.get("/api/v1/templates?limit=100").json()["results"]
    assert len(results) == T + 1
    assert {r["id"] for r in results if not r["is_system"]} == {str(mine.pk)}


def test_list_query_count_is_constant(member_client, seeded, tenant, django_assert_max_num_queries):
    UserTemplateFactory.create_batch(2, tenant=tenant)
    with django_assert_max_num_queries(4):
        assert member_client.get("/api/v1/templates").json()["count"] == T + 2
    UserTemplateFactory.create_batch(20, tenant=tenant)
    with django_assert_max_num_queries(4):
        assert member_client.get("/api/v1/templates").json()["count"] == T + 22


def test_revisions_list_query_count_is_constant(member_client, own, django_assert_max_num_queries):
    for n in range(5):
        member_client.patch(f"/api/v1/templates/{own.pk}", {"description": f"d{n}"})
    with django_assert_max_num_queries(6):
        assert member_client.get(f"/api/v1/templates/{own.pk}/revisions").json()["count"] == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=rag", {"simple-rag-v1", "enterprise-rag-v1"}),
        (
            "category=chatbot&category=agent",
            {
                "simple-chatbot-v1",
                "chatbot-memory-v1",
                "simple-agent-v1",
                "langgraph-agent-v1",
                "crewai-crew-v1",
                "research-agent-v1",
            },
        ),
        ("complexity=advanced", {"enterprise-rag-v1", "research-agent-v1"}),
        ("tags=rag,beginner", {"simple-rag-v1"}),
        ("text=memory", {"chatbot-memory-v1"}),
        ("is_system=true&q=crewai", {"crewai-crew-v1"}),
    ],
)
def test_list_filters(member_client, seeded, query, expected):
    results = member_client.get(f"/api/v1/templates?{query}").json()["results"]
    assert {r["id"] for r in results} == expected


def test_list_hides_inactive_templates_unless_asked(member_client, seeded):
    UseCaseTemplate.objects.filter(slug="simple-rag-v1").update(is_active=False)
    listed = {r["id"] for r in member_client.get("/api/v1/templates?limit=100").json()["results"]}
    assert "simple-rag-v1" not in listed and len(listed) == T - 1
    inactive = member_client.get("/api/v1/templates?is_active=false").json()["results"]
    assert [(r["id"], r["is_active"]) for r in inactive] == [("simple-rag-v1", False)]
    detail = member_client.get("/api/v1/templates/simple-rag-v1")
    assert detail.status_code == 200 and detail.json()["is_active"] is False


def test_system_template_is_addressed_by_slug(viewer_client, seeded):
    response = viewer_client.get("/api/v1/templates/simple-rag-v1")
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == "simple-rag-v1"
    assert data["is_system"] is True and data["tenant_id"] is None
    assert data["source_file"] == "templates/rag/simple-rag-v1.yaml"
    assert [c["id"] for c in data["components"]] == ["vector-db", "embedding", "llm", "orchestrator"]


def test_other_tenants_template_is_404(member_client, other_tenant, seeded):
    theirs = UserTemplateFactory(tenant=other_tenant)
    for path in ("", "/schema", "/revisions"):
        assert member_client.get(f"/api/v1/templates/{theirs.pk}{path}").status_code == 404
    assert member_client.post(f"/api/v1/templates/{theirs.pk}/resolve", {}).status_code == 404
    assert member_client.post(f"/api/v1/templates/{theirs.pk}/fork", {}).status_code == 404
    assert member_client.patch(f"/api/v1/templates/{theirs.pk}", {"name": "x"}).status_code == 404
    assert UseCaseTemplate.objects.get(pk=theirs.pk).name != "x"


def test_unknown_template_is_404(member_client, seeded):
    assert member_client.get("/api/v1/templates/nope-v1").status_code == 404


# --- schema and resolve --------------------------------------------------------------------------------------


def test_schema_endpoint(member_client, seeded):
    schema = member_client.get("/api/v1/templates/simple-rag-v1/schema").json()
    assert schema["required"] == ["model_id"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["vector_db_size"]["enum"] == ["10Gi", "50Gi", "100Gi"]
    assert schema["properties"]["vector_db_size"]["default"] == "50Gi"
    assert schema["properties"]["model_id"]["title"] == "LLM Model"


def test_secret_is_never_returned(member_client, seeded):
    schema = member_client.get("/api/v1/templates/simple-agent-v1/schema").json()
    assert schema["properties"]["search_api_key"]["writeOnly"] is True
    response = member_client.post(
        "/api/v1/templates/simple-agent-v1/resolve", {"parameters": {"model_id": MODEL, "search_api_key": "sk-abc123"}}
    )
    assert response.status_code == 200
    assert "sk-abc123" not in response.content.decode()
    assert response.json()["parameters"]["search_api_key"] == "********"


def test_resolve_answers_the_plan_in_start_order(member_client, seeded):
    response = member_client.post("/api/v1/templates/simple-rag-v1/resolve", {"parameters": {"model_id": MODEL}})
    assert response.status_code == 200, response.json()
    plan = response.json()
    assert plan["template_id"] == "simple-rag-v1"
    assert plan["version"] == "1.0.0"
    assert plan["waves"] == [["vector-db", "embedding", "llm"], ["orchestrator"]]
    assert [c["id"] for c in plan["components"]] == ["vector-db", "embedding", "llm", "orchestrator"]
    assert plan["components"][2]["component_id"] == "vllm"
    assert plan["components"][3]["depends_on"] == ["embedding", "llm", "vector-db"]
    assert plan["totals"] == {"gpus": {"A100-80GB": 1, "L4": 1}, "cpu": 15, "memory_gib": 90}
    assert plan["parameters"]["vector_db_size"] == "50Gi"


def test_resolve_names_each_bad_parameter(member_client, seeded):
    response = member_client.post(
        "/api/v1/templates/simple-rag-v1/resolve", {"parameters": {"vector_db_size": "1Ti", "nope": 1}}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"parameters.model_id", "parameters.vector_db_size", "parameters.nope"}


@pytest.mark.parametrize(
    "parameters",
    [{}, {"model_id": MODEL}, {"model_id": MODEL, "memory_ttl": 5}, {"model_id": 7}, {"model_id": MODEL, "x": 1}],
)
def test_schema_endpoint_and_resolve_endpoint_agree(member_client, seeded, parameters):
    schema = member_client.get("/api/v1/templates/chatbot-memory-v1/schema").json()
    response = member_client.post("/api/v1/templates/chatbot-memory-v1/resolve", {"parameters": parameters})
    assert (response.status_code == 200) == Draft202012Validator(schema).is_valid(parameters)


def test_resolve_of_inactive_template_is_409(member_client, seeded):
    UseCaseTemplate.objects.filter(slug="simple-rag-v1").update(is_active=False)
    response = member_client.post("/api/v1/templates/simple-rag-v1/resolve", {"parameters": {"model_id": MODEL}})
    assert response.status_code == 409


# --- user templates -------------------------------------------------------------------------------------------


def test_member_creates_template_with_first_revision(member_client, member_user, tenant, seeded):
    response = member_client.post("/api/v1/templates", body(tenant))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"] == data["uuid"]
    assert data["slug"] == "my-bot" and data["tenant_id"] == str(tenant.pk) and data["is_system"] is False
    assert data["created_by"] == member_user.username
    template = UseCaseTemplate.objects.get(pk=data["uuid"])
    assert template.revisions.get().source == TemplateRevision.Source.API
    plan = member_client.post(f"/api/v1/templates/{template.pk}/resolve", {"parameters": {"model_id": MODEL}})
    assert plan.json()["waves"] == [["llm"], ["ui"]]


def test_viewer_cannot_create(viewer_client, tenant, seeded):
    response = viewer_client.post("/api/v1/templates", body(tenant))
    assert response.status_code == 403
    assert not UseCaseTemplate.objects.filter(slug="my-bot").exists()


def test_create_in_other_tenant_is_field_error(member_client, other_tenant, seeded):
    response = member_client.post("/api/v1/templates", body(other_tenant))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["tenant_id"]


def test_create_with_bad_content_names_the_field(member_client, tenant, seeded):
    components = chatbot_components()
    components[0]["component_ref"] = "gpt-in-a-box"
    components[1]["depends_on"] = ["llm", "ghost"]
    response = member_client.post("/api/v1/templates", body(tenant, components=components))
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "components.0.component_ref": ["unknown component 'gpt-in-a-box'"],
        "components.1.depends_on.1": ["undefined component 'ghost'"],
    }
    assert not UseCaseTemplate.objects.filter(slug="my-bot").exists()


def test_create_with_schema_violation_names_the_field(member_client, tenant, seeded):
    parameters = [{"name": "model_id", "type": "blob"}]
    response = member_client.post("/api/v1/templates", body(tenant, parameters=parameters))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["parameters.0.type"]


@pytest.mark.parametrize("extra", [{}, {"default": "abc"}, {"options": ["abc"]}])
def test_create_with_bad_regex_pattern_is_a_field_error(member_client, tenant, seeded, extra):
    parameters = [
        {"name": "model_id", "type": "model_ref", "required": True},
        {"name": "team", "type": "string", "pattern": "([a-z", **extra},
    ]
    response = member_client.post("/api/v1/templates", body(tenant, parameters=parameters))
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "parameters.1.pattern": ["not a valid regex: unterminated character set at position 1"]
    }
    assert not UseCaseTemplate.objects.filter(slug="my-bot").exists()


def test_resolve_of_a_stored_template_with_a_bad_regex_is_400(member_client, tenant, seeded):
    parameters = [
        {"name": "model_id", "type": "model_ref", "required": True},
        {"name": "team", "type": "string", "pattern": "([a-z", "default": "abc"},
    ]
    stored = UserTemplateFactory(tenant=tenant, parameters=parameters)  # written before patterns were checked
    response = member_client.post(f"/api/v1/templates/{stored.pk}/resolve", {"parameters": {"model_id": MODEL}})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "parameters.1.pattern": ["not a valid regex: unterminated character set at position 1"]
    }


def test_unknown_field_is_400(member_client, tenant, seeded):
    response = member_client.post("/api/v1/templates", body(tenant, is_system=True))
    assert response.status_code == 400
    assert response.json()["errors"] == {"is_system": ["Unknown field."]}


def test_same_slug_in_two_tenants_never_clashes(member_client, other_client, tenant, other_tenant, seeded):
    mine = member_client.post("/api/v1/templates", body(tenant)).json()
    theirs = other_client.post("/api/v1/templates", body(other_tenant)).json()
    assert mine["slug"] == theirs["slug"] == "my-bot"
    assert mine["id"] != theirs["id"]
    assert member_client.get(f"/api/v1/templates/{theirs['id']}").status_code == 404


def test_duplicate_slug_in_one_tenant_is_field_error(member_client, tenant, own):
    response = member_client.post("/api/v1/templates", body(tenant))
    assert response.status_code == 400
    assert response.json()["errors"] == {"slug": ["A template with this slug already exists in the tenant."]}


def test_update_records_a_revision_and_bumps_the_version(member_client, own):
    response = member_client.patch(f"/api/v1/templates/{own.pk}", {"description": "now with notes"})
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == "1.0.1"
    revisions = list(own.revisions.order_by("revision").values_list("revision", "version", "changed_fields"))
    assert revisions == [
        (1, "1.0.0", sorted(own.as_content())),
        (2, "1.0.1", ["description", "version"]),
    ]


def test_update_reusing_a_version_for_other_content_is_400(member_client, own):
    member_client.patch(f"/api/v1/templates/{own.pk}", {"description": "x", "version": "2.0.0"})
    response = member_client.patch(f"/api/v1/templates/{own.pk}", {"description": "y", "version": "1.0.0"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["version"]


def test_system_templates_are_read_only(member_client, superuser_client, seeded):
    for client in (member_client, superuser_client):
        assert client.patch("/api/v1/templates/simple-rag-v1", {"name": "mine"}).status_code == 403
        assert client.delete("/api/v1/templates/simple-rag-v1").status_code == 403
    assert UseCaseTemplate.objects.get(slug="simple-rag-v1").name == "Simple RAG"


def test_viewer_cannot_change_a_template(viewer_client, own):
    assert viewer_client.patch(f"/api/v1/templates/{own.pk}", {"name": "x"}).status_code == 403
    assert viewer_client.delete(f"/api/v1/templates/{own.pk}").status_code == 403


def test_delete_is_soft(member_client, own):
    assert member_client.delete(f"/api/v1/templates/{own.pk}").status_code == 204
    assert member_client.get(f"/api/v1/templates/{own.pk}").status_code == 404
    own.refresh_from_db()
    assert own.deleted_at is not None and not own.is_active
    assert own.revisions.count() == 1


# --- fork, revisions, restore ---------------------------------------------------------------------------------


def test_fork_system_template_into_own_tenant(member_client, tenant, seeded):
    response = member_client.post("/api/v1/templates/simple-rag-v1/fork", {})
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["forked_from"] == "simple-rag-v1"
    assert data["forked_from_version"] == "1.0.0"
    assert data["tenant_id"] == str(tenant.pk) and data["slug"] == "simple-rag-v1"
    fork = UseCaseTemplate.objects.get(pk=data["uuid"])
    assert fork.components == UseCaseTemplate.objects.get(slug="simple-rag-v1", is_system=True).components
    assert fork.revisions.get().source == TemplateRevision.Source.FORK
    again = member_client.post("/api/v1/templates/simple-rag-v1/fork", {}).json()
    assert again["slug"] == "simple-rag-v1-2"


def test_fork_needs_tenant_id_when_several_are_writable(member_client, member_user, other_tenant, seeded):
    MembershipFactory(user=member_user, tenant=other_tenant, role=Membership.Role.MEMBER)
    response = member_client.post("/api/v1/templates/simple-chatbot-v1/fork", {})
    assert response.status_code == 400
    assert response.json()["errors"] == {"tenant_id": ["This field is required."]}
    response = member_client.post(
        "/api/v1/templates/simple-chatbot-v1/fork", {"tenant_id": str(other_tenant.pk), "name": "B bot"}
    )
    assert response.status_code == 201
    assert response.json()["tenant_id"] == str(other_tenant.pk)
    assert response.json()["name"] == "B bot"


def test_viewer_cannot_fork(viewer_client, tenant, seeded):
    response = viewer_client.post("/api/v1/templates/simple-rag-v1/fork", {})
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role is read-only in every tenant you belong to."
    response = viewer_client.post("/api/v1/templates/simple-rag-v1/fork", {"tenant_id": str(tenant.pk)})
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role in this tenant is read-only."
    assert not UseCaseTemplate.objects.filter(is_system=False).exists()
    assert TemplateRevision.objects.filter(source=TemplateRevision.Source.FORK).count() == 0


def test_fork_of_inactive_template_is_409(member_client, seeded):
    UseCaseTemplate.objects.filter(slug="simple-rag-v1").update(is_active=False)
    response = member_client.post("/api/v1/templates/simple-rag-v1/fork", {})
    assert response.status_code == 409
    assert response.json()["detail"] == "This template is inactive."
    assert not UseCaseTemplate.objects.filter(is_system=False).exists()


def test_fork_is_isolated_from_other_tenants(member_client, other_client, seeded):
    fork = member_client.post("/api/v1/templates/simple-rag-v1/fork", {}).json()
    assert other_client.get(f"/api/v1/templates/{fork['id']}").status_code == 404
    assert fork["id"] not in {r["id"] for r in other_client.get("/api/v1/templates").json()["results"]}


def test_revisions_and_restore(member_client, own):
    member_client.patch(f"/api/v1/templates/{own.pk}", {"description": "second"})
    member_client.patch(f"/api/v1/templates/{own.pk}", {"description": "third"})
    revisions = member_client.get(f"/api/v1/templates/{own.pk}/revisions").json()["results"]
    assert [r["revision"] for r in revisions] == [3, 2, 1]
    assert revisions[1]["content"]["description"] == "second"
    response = member_client.post(f"/api/v1/templates/{own.pk}/revisions/2/restore")
    assert response.status_code == 200, response.json()
    assert response.json()["description"] == "second"
    assert response.json()["version"] == "1.0.1"
    latest = own.revisions.order_by("-revision").first()
    assert (latest.revision, latest.source) == (4, TemplateRevision.Source.RESTORE)


def test_restore_unknown_revision_is_404(member_client, own):
    assert member_client.post(f"/api/v1/templates/{own.pk}/revisions/99/restore").status_code == 404


def test_system_revisions_are_readable_but_not_restorable(member_client, seeded):
    revisions = member_client.get("/api/v1/templates/simple-rag-v1/revisions").json()
    assert revisions["count"] == 1 and revisions["results"][0]["source"] == "seed"
    assert member_client.post("/api/v1/templates/simple-rag-v1/revisions/1/restore").status_code == 403
