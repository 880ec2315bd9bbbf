import json

import pytest

from components.models import ComponentDefinition, ComponentVersion
from components.tests.factories import ComponentDefinitionFactory
from templates_app.seeding import seed_templates

pytestmark = pytest.mark.django_db
ADMIN = "/admin/components/componentdefinition/"


@pytest.fixture
def admin_browser(client, superuser):
    client.force_login(superuser)
    return client


def form_data(**overrides) -> dict:
    data = {
        "id": "pgvector",
        "name": "pgvector",
        "description": "PostgreSQL with the vector extension",
        "category": "vector_db",
        "version": "0.8.0",
        "deployment_type": "DOCKER",
        "job_type": "SERVICE",
        "image": "pgvector/pgvector",
        "image_tag": "0.8.0-pg17",
        "port": "5432",
        "default_values": "{}",
        "default_env": json.dumps({"POSTGRES_DB": "vectors"}),
        "config_env": "{}",
        "default_resources": json.dumps({"cpu": 2, "memory_gib": 4}),
        "required_inputs": "[]",
        "outputs": json.dumps([{"name": "url", "protocol": "tcp", "port": 5432}]),
        "aliases": "[]",
        "tags": json.dumps(["vector-db", "SQL"]),
        "is_active": "on",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def change(admin_browser, component_id: str, **overrides):
    data = form_data(**overrides)
    del data["id"]
    return admin_browser.post(f"{ADMIN}{component_id}/change/", data)


def test_add_page_does_not_offer_is_system(admin_browser):
    page = admin_browser.get(f"{ADMIN}add/")
    assert page.status_code == 200
    assert b'name="is_system"' not in page.content


def test_curator_adds_a_component_that_is_not_a_system_row(admin_browser, member_client):
    response = admin_browser.post(f"{ADMIN}add/", form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    component = ComponentDefinition.objects.get(pk="pgvector")
    assert component.is_system is False and component.is_active is True and component.source_file == ""
    assert component.tags_text == ",vector-db,sql,"
    assert component.content_hash
    assert list(component.versions.values_list("version", flat=True)) == ["0.8.0"]
    assert component.versions.get().content == component.as_definition()
    found = member_client.get("/api/v1/components/search?tags=sql").json()["results"]
    assert [row["id"] for row in found] == ["pgvector"]


def test_prune_leaves_curated_components_alone(admin_browser):
    admin_browser.post(f"{ADMIN}add/", form_data())
    result = seed_templates(prune=True)
    assert result.errors == []
    assert "pgvector" not in result.components.deactivated
    assert ComponentDefinition.objects.get(pk="pgvector").is_active is True


def test_changing_the_version_records_a_component_version(admin_browser):
    admin_browser.post(f"{ADMIN}add/", form_data())
    response = change(admin_browser, "pgvector", version="0.9.0", image_tag="0.9.0-pg17")
    assert response.status_code == 302, response.content.decode()[:2000]
    component = ComponentDefinition.objects.get(pk="pgvector")
    assert (component.version, component.image_tag) == ("0.9.0", "0.9.0-pg17")
    versions = dict(ComponentVersion.objects.filter(definition=component).values_list("version", "content"))
    assert set(versions) == {"0.8.0", "0.9.0"}
    assert versions["0.8.0"]["image_tag"] == "0.8.0-pg17"
    assert versions["0.9.0"] == component.as_definition()


def test_content_change_without_a_new_version_bumps_it(admin_browser):
    admin_browser.post(f"{ADMIN}add/", form_data())
    response = change(admin_browser, "pgvector", tags=json.dumps(["vector-db", "postgres"]))
    assert response.status_code == 302, response.content.decode()[:2000]
    component = ComponentDefinition.objects.get(pk="pgvector")
    assert component.version == "0.8.1"
    assert component.tags_text == ",vector-db,postgres,"
    assert sorted(component.versions.values_list("version", flat=True)) == ["0.8.0", "0.8.1"]


def test_unchanged_save_records_nothing(admin_browser):
    admin_browser.post(f"{ADMIN}add/", form_data())
    assert change(admin_browser, "pgvector").status_code == 302
    assert ComponentDefinition.objects.get(pk="pgvector").version == "0.8.0"
    assert ComponentVersion.objects.filter(definition_id="pgvector").count() == 1


def test_reusing_a_version_for_other_content_is_a_form_error(admin_browser):
    admin_browser.post(f"{ADMIN}add/", form_data())
    change(admin_browser, "pgvector", version="0.9.0")
    response = change(admin_browser, "pgvector", version="0.8.0", image_tag="other")
    assert response.status_code == 200
    assert "version: Version &#x27;0.8.0&#x27; was already used for other content." in response.content.decode()
    assert ComponentDefinition.objects.get(pk="pgvector").version == "0.9.0"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"outputs": "[]"}, "outputs: this field is required"),
        ({"port": ""}, "port: this field is required"),
        ({"outputs": json.dumps([{"name": "url", "port": 5432}])}, "outputs.0.protocol: this field is required"),
        ({"aliases": json.dumps(["vllm-endpoint"])}, "aliases.0: &#x27;vllm-endpoint&#x27; is already the id or alias"),
    ],
)
def test_add_is_validated_like_a_yaml_file(admin_browser, overrides, message):
    ComponentDefinitionFactory(id="vllm", aliases=["vllm-endpoint"])
    response = admin_browser.post(f"{ADMIN}add/", form_data(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ComponentDefinition.objects.filter(pk="pgvector").exists()


def test_system_components_stay_read_only(admin_browser):
    seed_templates()
    page = admin_browser.get(f"{ADMIN}qdrant/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    response = change(admin_browser, "qdrant", name="mine")
    assert response.status_code == 403
    assert ComponentDefinition.objects.get(pk="qdrant").name == "Qdrant"
