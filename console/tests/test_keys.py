"""The deployment page shows its stable endpoint with a copy button; the keys page creates, rotates and revokes."""

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


def test_the_status_page_shows_the_endpoint_with_a_copy_button(member_web, deployment):
    page = member_web.get(f"/deployments/{deployment.pk}").content.decode()
    url = f"http://testserver/serve/{deployment.endpoint_slug}/"
    assert f'<code data-testid="endpoint">{url}</code>' in page
    assert f'data-copy="{url}"' in page
    assert f'href="/deployments/{deployment.pk}/keys"' in page


def test_creating_a_key_shows_its_secret_once_and_it_works(member_web, deployment):
    response = member_web.post(f"/deployments/{deployment.pk}/keys", {"name": "web", "rate_limit": "30"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("ucfd_") and f"<code>{secret}</code>" in response.content.decode()
    assert DeploymentKey.objects.get().rate_limit == 30
    assert send(deployment.endpoint_slug, secret).status_code == 200
    again = member_web.get(f"/deployments/{deployment.pk}/keys").content.decode()
    assert secret not in again and "web" in again


def test_a_bad_form_answers_next_to_the_field(member_web, deployment):
    response = member_web.post(f"/deployments/{deployment.pk}/keys", {"name": "", "rate_limit": "0"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "rate_limit"}
    services.key_create(user=None, deployment=deployment, name="web")
    duplicate = member_web.post(f"/deployments/{deployment.pk}/keys", {"name": "web"})
    assert duplicate.status_code == 400 and "name" in duplicate.context["form"].errors


def test_rotate_and_revoke_from_the_page(member_web, member_user, deployment):
    key, old = services.key_create(user=member_user, deployment=deployment, name="web")
    rotated = member_web.post(f"/deployments/{deployment.pk}/keys/{key.pk}/rotate")
    new = rotated.context["secret"]
    assert new != old and send(deployment.endpoint_slug, old).status_code == 401
    revoked = member_web.post(f"/deployments/{deployment.pk}/keys/{key.pk}/revoke")
    assert revoked.status_code == 302
    assert send(deployment.endpoint_slug, new).status_code == 401


def test_a_viewer_sees_keys_but_no_forms_and_cannot_post(viewer_web, member_user, deployment):
    key, _ = services.key_create(user=member_user, deployment=deployment, name="web")
    page = viewer_web.get(f"/deployments/{deployment.pk}/keys").content.decode()
    assert "web" in page and "Create key" not in page and "Revoke" not in page
    assert viewer_web.post(f"/deployments/{deployment.pk}/keys", {"name": "x"}).status_code == 403
    viewer_web.post(f"/deployments/{deployment.pk}/keys/{key.pk}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is None


def test_another_tenants_keys_page_is_404(other_web, deployment):
    assert other_web.get(f"/deployments/{deployment.pk}/keys").status_code == 404
