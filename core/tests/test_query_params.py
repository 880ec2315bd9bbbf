"""Unknown or invalid query parameters and body fields are 400s naming them (issue 14), on every kind of list."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=-5", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("ordering=nonexistent", "ordering"),
        ("ordering=name,-bogus", "ordering"),
        ("bogus=1", "bogus"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/deployments", "/api/v1/clusters", "/api/usecases"])
def test_invalid_or_unknown_query_parameters_are_400s(member_client, path, query, field):
    response = member_client.get(f"{path}?{query}")
    assert response.status_code == 400, (path, query, response.json())
    assert field in response.json()["errors"]


def test_valid_parameters_still_work(member_client, project):
    assert member_client.get("/api/v1/projects?limit=5&offset=0&ordering=-name&q=proj").status_code == 200
    assert member_client.get("/api/v1/projects?limit=5000").json()["count"] == 1  # capped, as documented


def test_unknown_query_parameter_on_a_detail_route_is_a_400(member_client, project):
    response = member_client.get(f"/api/v1/projects/{project.pk}?bogus=1")
    assert response.status_code == 400 and "bogus" in response.json()["errors"]


def test_export_refuses_an_unknown_filter_in_the_body(member_client):
    response = member_client.post("/api/usecases/export", {"bogus": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"bogus": ["Unknown filter."]}
    assert member_client.post("/api/usecases/export", {"industry": "Finance"}, format="json").status_code == 200
