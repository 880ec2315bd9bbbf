"""The tag filter on PostgreSQL reads `search_tags` (migration 0006): kept equal to the tag rows by every write path,
searched without a join to the tag table, and answering as the relation does."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from usecases import services
from usecases.filters import UseCaseFilterSet
from usecases.models import UseCase, UseCaseTag
from usecases.tests.factories import UseCaseFactory, make_usecase, usecase_data

pytestmark = pytest.mark.django_db
URL = "/api/usecases/search"
postgres_only = pytest.mark.skipif(not settings.IS_POSTGRES, reason="search_tags is PostgreSQL's (migration 0006)")


def _column() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT unique_id, search_tags FROM usecases_usecase ORDER BY unique_id")
        return dict(cursor.fetchall())


def _relation() -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {usecase.unique_id: [] for usecase in UseCase.objects.all()}
    for unique_id, name in UseCaseTag.objects.order_by("name").values_list("usecase__unique_id", "name"):
        tags[unique_id].append(name)
    return tags


@postgres_only
def test_every_write_path_keeps_the_column_equal_to_the_tag_rows():
    usecase = make_usecase(tags=["rag", "chatbot"])  # the service
    UseCaseFactory(unique_id="direct", tags=["voice"])  # a bulk insert of tag rows, as fixtures and the bench do
    UseCaseFactory(unique_id="untagged")
    expected = {"direct": ["voice"], "healthcare_001": ["chatbot", "rag"], "untagged": []}
    assert _column() == _relation() == expected
    services.usecase_update(usecase=usecase, data={"tags": ["rag", "voice"]}, partial=True)  # delete + insert
    services.usecases_import(  # import: an update's tags deleted and re-inserted in bulk, a new usecase's inserted
        data=[usecase_data(tags=["agent"]), usecase_data(unique_id="imported_1", tags=["b", "a"])]
    )
    UseCaseTag.objects.filter(usecase__unique_id="direct").update(name="speech")  # the tag admin's edit
    UseCaseTag.objects.filter(usecase__unique_id="imported_1", name="a").delete()  # and its delete
    expected = {"direct": ["speech"], "healthcare_001": ["agent"], "imported_1": ["b"], "untagged": []}
    assert _column() == _relation() == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tags=chatbot,rag", ["both"]),
        ("tags=rag", ["both", "rag_only"]),
        ("tags=chatbot,rag&tags_mode=any", ["both", "chat_only", "rag_only"]),
        ("tags=none-such,rag&tags_mode=any", ["both", "rag_only"]),
        ("tags=none-such", []),
    ],
)
def test_tag_filters_answer_as_the_relation_does(reader_client, query, expected):
    UseCaseFactory(unique_id="both", tags=["chatbot", "rag"])
    UseCaseFactory(unique_id="rag_only", tags=["rag"])
    UseCaseFactory(unique_id="chat_only", tags=["chatbot", "voice"])
    UseCaseFactory(unique_id="none")
    body = reader_client.get(f"{URL}?{query}&sort_by=unique_id").json()
    assert [row["unique_id"] for row in body["results"]] == expected
    assert (body["count"], body["count_exact"]) == (len(expected), True)


@postgres_only
def test_a_tag_search_is_one_statement_without_the_tag_table(reader_client):
    UseCaseFactory(tags=["chatbot", "rag"])
    with CaptureQueriesContext(connection) as ctx:
        body = reader_client.get(f"{URL}?tags=chatbot,rag&tags_mode=any").json()
    assert body["results"][0]["tags"] == ["chatbot", "rag"]
    page = ctx.captured_queries[-1]["sql"]
    assert len(ctx.captured_queries) == 1  # page, tags and bounded count (the client is authenticated in process)
    assert "search_tags &&" in page
    assert "usecases_usecasetag" not in page  # neither the filter nor the page's tags join the tag table


def test_the_form_class_is_built_once_per_filterset_class():
    first, second = UseCaseFilterSet(data={"tags": "a"}), UseCaseFilterSet(data={"limit_me": "x"})
    assert first.get_form_class() is second.get_form_class()
    assert not UseCaseFilterSet(data={"min_input_tokens": "-1"}).is_valid()  # a fresh form still validates
    assert first.is_valid()
