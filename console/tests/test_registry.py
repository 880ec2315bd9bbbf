import pytest

from components.models import ComponentDefinition
from templates_app.models import UseCaseTemplate
from usecases.tests.factories import make_usecase

pytestmark = pytest.mark.django_db


def test_components_are_grouped_by_category(member_web, templates):
    response = member_web.get("/components")
    assert response.status_code == 200
    page = response.content.decode()
    assert [c.id for c in response.context["components"]] == list(
        ComponentDefinition.objects.filter(is_active=True).order_by("category", "id").values_list("id", flat=True)
    )
    assert "<h2>Vector database</h2>" in page
    assert 'href="/components/qdrant"' in page


def test_components_filter_by_category_and_text(member_web, templates):
    llms = member_web.get("/components", {"category": "llm"}).context["components"]
    assert llms and {c.category for c in llms} == {"llm"}
    found = member_web.get("/components", {"q": "qdrant"}).context["components"]
    assert [c.id for c in found] == ["qdrant"]
    invalid = member_web.get("/components", {"category": "nope"})
    assert invalid.context["components"] == [] and "category" in invalid.context["errors"]


def test_components_query_count_is_constant(member_web, templates, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        member_web.get("/components")


def test_component_detail_shows_outputs_and_the_templates_using_it(member_web, templates):
    response = member_web.get("/components/qdrant")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>url</code>" in page
    assert 'href="/usecases/simple-rag-v1"' in page
    assert member_web.get("/components/not-a-component").status_code == 404


def test_component_detail_lists_only_templates_the_user_can_see(
    member_web, other_web, member_user, other_member_user, tenant, other_tenant, templates
):
    from templates_app import services

    system = UseCaseTemplate.objects.get(slug="simple-rag-v1")
    ours = services.template_fork(template=system, tenant=tenant, user=member_user, name="Our RAG")
    theirs = services.template_fork(template=system, tenant=other_tenant, user=other_member_user, name="Their RAG")
    response = member_web.get("/components/qdrant")
    used_by = {t.pk for t in response.context["used_by"]}
    assert {system.pk, ours.pk} <= used_by
    assert theirs.pk not in used_by
    assert f'href="/usecases/{theirs.pk}"' not in response.content.decode()
    assert f'href="/usecases/{ours.pk}"' in response.content.decode()
    assert theirs.pk in {t.pk for t in other_web.get("/components/qdrant").context["used_by"]}


def test_slo_catalog_searches_and_filters(member_web):
    make_usecase(unique_id="hc_1", name="Patient Summarization", industry="Healthcare", tags=["medical"])
    make_usecase(unique_id="fin_1", name="Fraud Alerts", industry="Finance", tags=["fraud"], e2e_min=0.5, e2e_max=1.0)
    everything = member_web.get("/slo")
    assert everything.status_code == 200
    assert {u.unique_id for u in everything.context["page"].object_list} == {"hc_1", "fin_1"}

    def ids(**params):
        return [u.unique_id for u in member_web.get("/slo", params).context["page"].object_list]

    assert ids(q="fraud") == ["fin_1"]
    assert ids(industry="Healthcare") == ["hc_1"]
    assert ids(tags="medical") == ["hc_1"]
    assert ids(latency_profile="real-time") == ["fin_1"]


def test_slo_catalog_reports_invalid_parameters(member_web):
    response = member_web.get("/slo", {"sort_by": "nonsense"})
    assert response.status_code == 200
    assert "sort_by" in response.context["errors"]


def test_slo_list_query_count_is_constant(member_web, django_assert_max_num_queries):
    for i in range(3):
        make_usecase(unique_id=f"uc_{i}", name=f"Usecase {i}")
    member_web.get("/slo")  # warm the cached aggregates (industries, tags)
    with django_assert_max_num_queries(8) as few:
        member_web.get("/slo")
    baseline = len(few.captured_queries)  # now: a later request resets the connection's query log
    assert baseline > 0
    for i in range(3, 10):
        make_usecase(unique_id=f"uc_{i}", name=f"Usecase {i}")
    member_web.get("/slo")
    with django_assert_max_num_queries(baseline):
        response = member_web.get("/slo")
    assert len(response.context["page"].object_list) == 10


def test_slo_detail_shows_the_usecase_slos(member_web):
    make_usecase(unique_id="hc_1", name="Patient Summarization", ttft_min=1.0, ttft_max=2.0)
    response = member_web.get("/slo/hc_1")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Time to first token" in page
    assert "1.0s" in page and "2.0s" in page
    assert member_web.get("/slo/missing").status_code == 404
