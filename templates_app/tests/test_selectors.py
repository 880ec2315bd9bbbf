import pytest

from core.exceptions import NotFound
from templates_app.resolver import resolve
from templates_app.selectors import template_content_at_version, template_get_for_user, template_list
from templates_app.services import template_update
from templates_app.tests.factories import UserTemplateFactory

pytestmark = pytest.mark.django_db


def test_get_for_user_accepts_slug_of_system_and_uuid_of_own(member_user, tenant, seeded):
    own = UserTemplateFactory(tenant=tenant, slug="simple-rag-v1")
    assert template_get_for_user(user=member_user, template_id="simple-rag-v1").is_system
    assert template_get_for_user(user=member_user, template_id=str(own.pk)) == own


def test_get_for_user_hides_other_tenants_and_deleted(member_user, other_tenant, tenant, seeded):
    theirs = UserTemplateFactory(tenant=other_tenant)
    with pytest.raises(NotFound):
        template_get_for_user(user=member_user, template_id=str(theirs.pk))
    with pytest.raises(NotFound):
        template_get_for_user(user=member_user, template_id=theirs.slug)  # user templates are not found by slug
    assert theirs not in template_list(user=member_user)


def test_content_at_version_returns_the_earlier_content(member_user, tenant, seeded):
    from templates_app.services import template_create
    from templates_app.tests.factories import chatbot_components

    template = template_create(
        user=member_user,
        tenant=tenant,
        slug="bot",
        name="Bot",
        category="chatbot",
        version="1.0.0",
        parameters=[{"name": "model_id", "type": "model_ref", "required": True}],
        components=chatbot_components(),
    )
    template_update(
        user=member_user,
        template=template,
        components=[
            *chatbot_components()[:1],
            {"id": "ui", "component_ref": "chat-ui", "env": {"BACKEND_URL": "x", "APP_TITLE": "v2"}},
        ],
    )
    old = template_content_at_version(template=template, version="1.0.0")
    assert resolve(old, {"model_id": "m"}).component("ui").env["APP_TITLE"] == "Bud Chat"
    template.refresh_from_db()
    assert resolve(template, {"model_id": "m"}).component("ui").env["APP_TITLE"] == "v2"
    with pytest.raises(NotFound):
        template_content_at_version(template=template, version="9.9.9")
