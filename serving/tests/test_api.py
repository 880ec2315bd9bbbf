"""/api/v1/deployments/{id}/keys: tenant-scoped, role-checked, the secret shown once, field-level 400s."""

from __future__ import annotations

import pytest

from deployments.tests.factories import deploy
from serving import services
from serving.models import DeploymentKey
from serving.tests.factories import send

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(templates, member_user, project, cluster):
    return deploy(user=member_user, project=project, cluster=cluster, name="my-rag", run=True)


def keys_url(deployment, *rest) -> str:
    return "/".join([f"/api/v1/deployments/{deployment.pk}/keys", *map(str, rest)])


def test_create_shows_the_secret_once_and_it_opens_the_endpoint(member_client, deployment):
    response = member_client.post(keys_url(deployment), {"name": "web", "rate_limit": 120}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("ucfd_")
    assert body["prefix"] == body["secret"][: services.PREFIX_LENGTH]
    assert body["rate_limit"] == 120 and body["is_active"] is True
    assert body["deployment_id"] == str(deployment.pk)
    listed = member_client.get(keys_url(deployment)).json()["results"]
    assert [key["id"] for key in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in member_client.get(keys_url(deployment, body["id"])).json()
    assert send(deployment.endpoint_slug, body["secret"]).status_code == 200


def test_the_default_rate_limit_comes_from_settings(member_client, deployment, settings):
    settings.SERVING_DEFAULT_RATE_LIMIT = 77
    assert member_client.post(keys_url(deployment), {"name": "web"}, format="json").json()["rate_limit"] == 77


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "web", "rate_limit": 0}, "rate_limit"),
        ({"name": "web", "rate_limit": "many"}, "rate_limit"),
        ({"name": "web", "secret": "mine"}, "secret"),
        ({"name": "web", "prefix": "ucfd_x"}, "prefix"),
        ({"name": "web", "colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_are_field_level_400s(member_client, deployment, body, field):
    response = member_client.post(keys_url(deployment), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not DeploymentKey.objects.exists()


def test_a_duplicate_live_name_is_a_400_on_name(member_client, deployment):
    assert member_client.post(keys_url(deployment), {"name": "web"}, format="json").status_code == 201
    response = member_client.post(keys_url(deployment), {"name": "web"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_rotate_returns_a_new_secret_and_refuses_the_old_one(member_client, deployment):
    created = member_client.post(keys_url(deployment), {"name": "web"}, format="json").json()
    response = member_client.post(keys_url(deployment, created["id"], "rotate"))
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["id"] == created["id"] and rotated["secret"] != created["secret"]
    assert rotated["rotated_at"] is not None
    assert send(deployment.endpoint_slug, created["secret"]).status_code == 401
    assert send(deployment.endpoint_slug, rotated["secret"]).status_code == 200


def test_delete_revokes_and_the_key_stays_listed(member_client, deployment):
    created = member_client.post(keys_url(deployment), {"name": "web"}, format="json").json()
    assert member_client.delete(keys_url(deployment, created["id"])).status_code == 204
    listed = member_client.get(keys_url(deployment), {"is_active": "false"}).json()["results"]
    assert [(key["id"], key["is_active"]) for key in listed] == [(created["id"], False)]
    assert member_client.get(keys_url(deployment), {"is_active": "true"}).json()["count"] == 0
    assert send(deployment.endpoint_slug, created["secret"]).status_code == 401
    assert member_client.post(keys_url(deployment, created["id"], "rotate")).status_code == 409
    # The name is free again for a new key.
    assert member_client.post(keys_url(deployment), {"name": "web"}, format="json").status_code == 201


def test_patch_changes_the_rate_limit_and_refuses_read_only_fields(member_client, deployment):
    created = member_client.post(keys_url(deployment), {"name": "web"}, format="json").json()
    response = member_client.patch(keys_url(deployment, created["id"]), {"rate_limit": 5}, format="json")
    assert response.status_code == 200 and response.json()["rate_limit"] == 5
    assert DeploymentKey.objects.get(pk=created["id"]).rate_limit == 5
    bad = member_client.patch(keys_url(deployment, created["id"]), {"revoked_at": None}, format="json")
    assert bad.status_code == 400 and "revoked_at" in bad.json()["errors"]


def test_a_viewer_reads_but_cannot_create_rotate_or_revoke(viewer_client, member_user, deployment):
    key, _ = services.key_create(user=member_user, deployment=deployment, name="web")
    assert viewer_client.get(keys_url(deployment)).json()["count"] == 1
    assert viewer_client.post(keys_url(deployment), {"name": "mine"}, format="json").status_code == 403
    assert viewer_client.post(keys_url(deployment, key.pk, "rotate")).status_code == 403
    assert viewer_client.delete(keys_url(deployment, key.pk)).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None and DeploymentKey.objects.count() == 1


def test_another_tenants_deployment_and_keys_are_404(other_client, member_user, deployment):
    key, _ = services.key_create(user=member_user, deployment=deployment, name="web")
    assert other_client.get(keys_url(deployment)).status_code == 404
    assert other_client.post(keys_url(deployment), {"name": "x"}, format="json").status_code == 404
    assert other_client.get(keys_url(deployment, key.pk)).status_code == 404
    assert other_client.post(keys_url(deployment, key.pk, "rotate")).status_code == 404
    assert other_client.delete(keys_url(deployment, key.pk)).status_code == 404
    assert DeploymentKey.objects.get(pk=key.pk).revoked_at is None


def test_a_key_is_only_reachable_under_its_own_deployment(member_client, member_user, project, cluster, deployment):
    second = deploy(user=member_user, project=project, cluster=cluster, name="second")
    key, _ = services.key_create(user=member_user, deployment=second, name="web")
    assert member_client.get(keys_url(deployment, key.pk)).status_code == 404


def test_unauthenticated_is_401(api_client, deployment):
    assert api_client.get(keys_url(deployment)).status_code == 401


def test_list_paginates_in_a_constant_number_of_queries(
    member_client, member_user, deployment, django_assert_max_num_queries
):
    for i in range(12):
        services.key_create(user=member_user, deployment=deployment, name=f"key-{i}")
    with django_assert_max_num_queries(6):
        response = member_client.get(keys_url(deployment), {"limit": 5, "ordering": "name"})
    body = response.json()
    assert body["count"] == 12 and len(body["results"]) == 5
    assert [key["name"] for key in body["results"]] == sorted(f"key-{i}" for i in range(12))[:5]


def test_the_deployment_response_carries_its_endpoint(member_client, deployment, settings):
    assert member_client.get(f"/api/v1/deployments/{deployment.pk}").json()["endpoint"] == (
        f"http://testserver/serve/{deployment.endpoint_slug}/"
    )
    settings.SERVING_BASE_URL = "https://api.example.com/"
    listed = member_client.get("/api/v1/deployments").json()["results"]
    assert listed[0]["endpoint"] == f"https://api.example.com/serve/{deployment.endpoint_slug}/"


def test_the_schema_describes_the_keys_endpoints(member_client):
    schema = member_client.get("/api/schema", {"format": "json"}).json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/deployments/{deployment_id}/keys/"]
    assert "post" in paths["/api/v1/deployments/{deployment_id}/keys/{id}/rotate/"]
    created = paths["/api/v1/deployments/{deployment_id}/keys/"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("DeploymentKeySecret")
