import pytest

from templates_app.models import TemplateRevision, UseCaseTemplate
from templates_app.services import template_fork

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(client, superuser):
    client.force_login(superuser)
    return client


def test_changelists_and_system_change_pages_render(admin_browser, seeded):
    assert admin_browser.get("/admin/templates_app/usecasetemplate/?category__exact=rag").status_code == 200
    assert admin_browser.get("/admin/components/componentdefinition/?q=qdrant").status_code == 200
    template = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    page = admin_browser.get(f"/admin/templates_app/usecasetemplate/{template.pk}/change/")
    assert page.status_code == 200
    assert b"vllm-endpoint" in page.content and b"LLM Model" in page.content
    assert b'name="_save"' not in page.content  # read-only
    assert admin_browser.get("/admin/components/componentdefinition/vllm/change/").status_code == 200


def test_fork_action_copies_into_the_chosen_tenant(admin_browser, seeded, tenant):
    template = UseCaseTemplate.objects.get(slug="simple-chatbot-v1")
    response = admin_browser.post(
        "/admin/templates_app/usecasetemplate/",
        {"action": "fork", "_selected_action": [str(template.pk)], "tenant": str(tenant.pk), "apply": "Fork"},
    )
    assert response.status_code == 302
    fork = UseCaseTemplate.objects.get(tenant=tenant)
    assert fork.forked_from == template


def test_editing_a_user_template_records_an_admin_revision(admin_browser, seeded, tenant, superuser):
    fork = template_fork(user=superuser, template=UseCaseTemplate.objects.get(slug="simple-chatbot-v1"), tenant=tenant)
    url = f"/admin/templates_app/usecasetemplate/{fork.pk}/change/"
    import json

    data = {
        "slug": fork.slug,
        "name": "Renamed",
        "description": fork.description,
        "category": fork.category,
        "version": fork.version,
        "complexity": fork.complexity,
        "tags": json.dumps(fork.tags),
        "parameters": json.dumps(fork.parameters),
        "components": json.dumps(fork.components),
        "routing": json.dumps(fork.routing),
        "observability": json.dumps(fork.observability),
        "max_retries": fork.max_retries,
        "revisions-TOTAL_FORMS": 0,
        "revisions-INITIAL_FORMS": 0,
    }
    response = admin_browser.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    fork.refresh_from_db()
    assert fork.name == "Renamed" and fork.version == "1.1.1"  # simple-chatbot-v1 is at 1.1.0
    assert fork.revisions.order_by("-revision").first().source == TemplateRevision.Source.ADMIN
