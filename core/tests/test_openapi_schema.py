"""The OpenAPI schema tells the truth about errors (issue 14): every operation lists its 4xx answers in the one
error shape, no request body carries an internal note as its description, and constraints are stated."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from core.api.fields import StrictFieldsMixin

pytestmark = pytest.mark.django_db
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_operation_lists_its_errors_with_the_error_shape(schema):
    error = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "errors"]
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        expected = {"400", "401", "403", "429"} | ({"404"} if "{" in path else set())
        assert expected <= set(responses), (method, path, sorted(responses))
        for code in expected:
            assert responses[code]["content"]["application/json"]["schema"] == error, (method, path, code)


def test_no_request_body_describes_itself_with_an_internal_note(schema):
    note = StrictFieldsMixin.__doc__.strip()
    described = [name for name, body in schema["components"]["schemas"].items() if body.get("description") == note]
    assert described == []


def test_deploy_states_its_constraints_and_its_422(schema):
    create = schema["paths"]["/api/v1/deployments/"]["post"]
    assert "422" in create["responses"]
    body = schema["components"]["schemas"]["DeploymentCreateRequest"]
    name = body["properties"]["name"]["oneOf"][0]  # or empty: a generated name
    assert name["pattern"].startswith("^[a-z0-9]")
    assert name["maxLength"] == 40
    # Where to deploy is one of two fields (a cluster, or a cluster set that picks one): each says so, and giving
    # both or neither is a field-level 400 (deployments/tests).
    assert set(body["required"]) == {"template_id", "project_id"}
    assert "cluster_set_id" in body["properties"]["cluster_id"]["description"]
    assert "cluster_set_id" in body["properties"]["strategy"]["description"]
    assert body["additionalProperties"] is False  # an unknown field is a 400
    limit = next(p for p in schema["paths"]["/api/v1/deployments/"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["minimum"] == 1
    ordering = next(p for p in schema["paths"]["/api/v1/deployments/"]["get"]["parameters"] if p["name"] == "ordering")
    assert "created_at" in ordering["schema"]["pattern"]


def test_a_date_with_an_offset_the_database_cannot_store_is_converted_not_a_500(member_client):
    response = member_client.get("/api/v1/clusters?created_before=0722-11-25T14:29:55-20:56")
    assert response.status_code == 200
    assert member_client.get("/api/v1/clusters?created_after=0001-01-01T00:00:00%2B14:00").status_code == 400
