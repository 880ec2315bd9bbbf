import pytest

from core.management.commands.run import banner


@pytest.mark.django_db
def test_make_run_prints_the_openapi_schema_url_and_it_answers(admin_client):
    text = banner("http://127.0.0.1:8000", {"admin_username": "admin", "admin_password": "admin", "api_token": "t"})
    assert "OpenAPI     http://127.0.0.1:8000/api/schema/" in text
    response = admin_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
