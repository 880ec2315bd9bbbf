"""The catalog's HTTP API end to end: list, search filters, detail, writes, versions, stats, lists.

Over 400 lines on purpose: the search has a dozen filters whose meanings (overlap, profiles, text) are asserted
through the one endpoint users call; import/export, services and validation have their own files."""

import pytest
from django.conf import settings

from tenancy.tests.factories import token_for
from usecases import services
from usecases.models import UseCase, UseCaseVersion
from usecases.tests.factories import UseCaseFactory, curator, make_usecase, usecase_data

pytestmark = pytest.mark.django_db
URL = "/api/usecases"
CURL_EXAMPLE = {
    "unique_id": "test_001",
    "name": "Test Usecase",
    "industry": "Testing",
    "input_tokens_min": 100,
    "input_tokens_max": 500,
    "output_tokens_min": 50,
    "output_tokens_max": 200,
}


def ids(response) -> list[str]:
    return [item["unique_id"] for item in response.json()["results"]]


# --- permissions -----------------------------------------------------------------------------------------------


def test_anonymous_request_is_401(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided.", "errors": {}}


def test_token_authenticated_user_reads_without_tenant_or_permissions(api_client, other_member_user):
    make_usecase()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(other_member_user)}")
    assert api_client.get(f"{URL}/healthcare_001").json()["name"] == "Patient Summarization"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", URL, CURL_EXAMPLE),
        ("patch", f"{URL}/healthcare_001", {"name": "x"}),
        ("put", f"{URL}/healthcare_001", usecase_data()),
        ("delete", f"{URL}/healthcare_001", None),
        ("post", f"{URL}/import", [CURL_EXAMPLE]),
        ("post", f"{URL}/healthcare_001/versions/1/restore", None),
    ],
)
def test_reader_without_model_permissions_cannot_write(reader_client, method, path, body):
    make_usecase()
    response = getattr(reader_client, method)(path, body, format="json")
    assert response.status_code == 403
    assert UseCase.objects.get().name == "Patient Summarization"
    assert not UseCase.objects.filter(unique_id="test_001").exists()


def test_change_permission_alone_does_not_allow_delete():
    from core.testing import client_for

    make_usecase()
    client = client_for(curator("editor", perms=("change",)))
    assert client.patch(f"{URL}/healthcare_001", {"name": "Edited"}).status_code == 200
    assert client.delete(f"{URL}/healthcare_001").status_code == 403
    assert UseCase.objects.get().is_active is True


def test_reader_can_export(reader_client):
    make_usecase()
    response = reader_client.post(f"{URL}/export", {}, format="json")
    assert response.status_code == 200
    assert [u["unique_id"] for u in response.json()["usecases"]] == ["healthcare_001"]


# --- CRUD ------------------------------------------------------------------------------------------------------


def test_curl_example_with_only_required_fields_is_201(curator_client):
    response = curator_client.post(URL, CURL_EXAMPLE, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["unique_id"] == "test_001"
    assert body["latency_profile"] == "batch"
    assert body["input_length_profile"] == "short"
    assert body["tags"] == [] and body["e2e_max"] is None and body["version"] == 1
    assert UseCase.objects.get(unique_id="test_001").input_tokens_max == 500


def test_create_accepts_numeric_strings_and_legacy_sizes(curator_client):
    payload = usecase_data(input_tokens_min="1000", ttft_min="1.5", batch_size="8")
    response = curator_client.post(f"{URL}/", payload, format="json")
    assert response.status_code == 201, response.json()
    usecase = UseCase.objects.get()
    assert (usecase.input_tokens_min, usecase.ttft_min, usecase.batch_size_min, usecase.batch_size_max) == (
        1000,
        1.5,
        8,
        8,
    )
    assert response.json()["latency_profile"] == "responsive"


def test_create_validation_errors_are_per_field(curator_client):
    payload = usecase_data(input_tokens_min=3000, output_tokens_min=-1, e2e_max="soon")
    response = curator_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "errors": {
            "input_tokens_min": ["Must be less than or equal to input_tokens_max (2000)."],
            "output_tokens_min": ["Must be 0 or more."],
            "e2e_max": ["A valid number is required."],
        },
    }
    assert not UseCase.objects.exists()


def test_create_with_a_number_beyond_the_column_is_a_field_error(curator_client):
    response = curator_client.post(URL, usecase_data(input_tokens_max="99999999999"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"input_tokens_max": ["Must be 100000000 or less."]}
    assert not UseCase.objects.exists()


def test_patch_with_a_number_beyond_the_column_is_a_field_error(curator_client):
    make_usecase()
    response = curator_client.patch(f"{URL}/healthcare_001", {"batch_size_max": 2**40}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"batch_size_max": ["Must be 1000000 or less."]}
    usecase = UseCase.objects.get()
    assert (usecase.batch_size_max, usecase.version) == (None, 1)


def test_create_rejects_unknown_and_read_only_fields(curator_client):
    response = curator_client.post(URL, usecase_data(latency_profile="batch", colour="red"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"latency_profile": ["This field is read-only."], "colour": ["Unknown field."]}


def test_duplicate_unique_id_is_400(curator_client):
    make_usecase()
    response = curator_client.post(URL, usecase_data(), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"unique_id": ["A use case with this unique_id already exists."]}


def test_retrieve_with_and_without_trailing_slash(reader_client):
    make_usecase()
    for path in (f"{URL}/healthcare_001", f"{URL}/healthcare_001/"):
        body = reader_client.get(path).json()
        assert body["tags"] == ["medical", "nlp"]
        assert body["latency_profile"] == "responsive"
        assert body["input_length_profile"] == "medium"


def test_retrieve_unknown_is_404(reader_client):
    response = reader_client.get(f"{URL}/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Use case 'nope' does not exist.", "errors": {}}


def test_cached_retrieve_costs_no_query_and_sees_updates(curator_client, django_assert_num_queries):
    make_usecase()
    curator_client.get(f"{URL}/healthcare_001")
    with django_assert_num_queries(0):
        assert curator_client.get(f"{URL}/healthcare_001").json()["name"] == "Patient Summarization"
    curator_client.patch(f"{URL}/healthcare_001", {"name": "Renamed"}, format="json")
    assert curator_client.get(f"{URL}/healthcare_001").json()["name"] == "Renamed"


def test_put_replaces_and_records_a_version(curator_client):
    make_usecase()
    payload = usecase_data(name="Replaced", tags=["x"])
    del payload["ttft_min"], payload["ttft_max"]
    response = curator_client.put(f"{URL}/healthcare_001", payload, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2 and response.json()["ttft_max"] is None
    usecase = UseCase.objects.get()
    assert (usecase.name, usecase.ttft_max, usecase.tag_names) == ("Replaced", None, ["x"])


def test_patch_checks_ranges_against_stored_values(curator_client):
    make_usecase()
    response = curator_client.patch(f"{URL}/healthcare_001", {"output_tokens_min": "500"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "output_tokens_min": ["Must be less than or equal to output_tokens_max (200)."]
    }
    assert UseCase.objects.get().output_tokens_min == 100


def test_patch_cannot_change_unique_id(curator_client):
    make_usecase()
    response = curator_client.patch(f"{URL}/healthcare_001", {"unique_id": "other"}, format="json")
    assert response.status_code == 400
    assert UseCase.objects.get().unique_id == "healthcare_001"


def test_soft_delete_then_404_then_undelete(curator_client):
    make_usecase()
    assert curator_client.delete(f"{URL}/healthcare_001").status_code == 204
    assert UseCase.objects.get().is_active is False
    assert curator_client.get(f"{URL}/healthcare_001").status_code == 404
    assert curator_client.get(f"{URL}/healthcare_001?include_inactive=true").json()["is_active"] is False
    assert curator_client.get(URL).json()["count"] == 0
    response = curator_client.post(f"{URL}/healthcare_001/undelete")
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert UseCase.objects.get().is_active is True


def test_undelete_of_active_usecase_is_409(curator_client):
    make_usecase()
    assert curator_client.post(f"{URL}/healthcare_001/undelete").status_code == 409


def test_hard_delete_removes_everything(curator_client):
    make_usecase()
    assert curator_client.delete(f"{URL}/healthcare_001?hard=true").status_code == 204
    assert not UseCase.objects.exists() and not UseCaseVersion.objects.exists()


def test_hard_delete_of_a_soft_deleted_usecase(curator_client):
    services.usecase_delete(usecase=make_usecase())
    assert curator_client.delete(f"{URL}/healthcare_001?hard=true").status_code == 204
    assert not UseCase.objects.exists()


# --- versions --------------------------------------------------------------------------------------------------


def test_versions_list_detail_and_restore(curator_client):
    make_usecase()
    curator_client.patch(f"{URL}/healthcare_001", {"name": "Second"}, format="json")
    body = curator_client.get(f"{URL}/healthcare_001/versions").json()
    assert [(v["version"], v["kind"], v["snapshot"]["name"]) for v in body["results"]] == [
        (2, "updated", "Second"),
        (1, "created", "Patient Summarization"),
    ]
    assert body["results"][0]["created_by"] == "carla-curator"
    assert curator_client.get(f"{URL}/healthcare_001/versions/1").json()["snapshot"]["name"] == "Patient Summarization"
    response = curator_client.post(f"{URL}/healthcare_001/versions/1/restore")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["version"]) == ("Patient Summarization", 3)
    assert UseCaseVersion.objects.get(usecase__unique_id="healthcare_001", version=3).kind == "restored"


def test_unknown_version_is_404(curator_client):
    make_usecase()
    assert curator_client.get(f"{URL}/healthcare_001/versions/7").status_code == 404
    assert curator_client.post(f"{URL}/healthcare_001/versions/7/restore").status_code == 404


# --- search and filters ----------------------------------------------------------------------------------------


@pytest.fixture
def catalog(db):
    """Four use cases chosen so that every filter tells them apart."""
    return [
        UseCaseFactory(
            unique_id="voice",
            name="Voice assistant",
            industry="Telecom",
            description="Answers calls.",
            input_tokens_min=50,
            input_tokens_max=400,
            output_tokens_min=20,
            output_tokens_max=150,
            ttft_min=0.1,
            ttft_max=0.3,
            e2e_min=0.5,
            e2e_max=1.5,
            inter_token_min=0.01,
            inter_token_max=0.03,
            tags=["voice", "real-time"],
        ),
        UseCaseFactory(
            unique_id="coding",
            name="Coding assistant",
            industry="Software Engineering",
            description="Suggests code changes.",
            input_tokens_min=1000,
            input_tokens_max=16000,
            output_tokens_min=100,
            output_tokens_max=1500,
            ttft_min=0.3,
            ttft_max=1.0,
            e2e_min=2.0,
            e2e_max=5.0,
            inter_token_min=0.01,
            inter_token_max=0.03,
            tags=["coding", "chat"],
        ),
        UseCaseFactory(
            unique_id="summary",
            name="Document summarisation",
            industry="Legal",
            description="Summarises contracts overnight.",
            input_tokens_min=8000,
            input_tokens_max=64000,
            output_tokens_min=300,
            output_tokens_max=1500,
            ttft_min=2.0,
            ttft_max=10.0,
            e2e_min=15.0,
            e2e_max=60.0,
            inter_token_min=0.03,
            inter_token_max=0.08,
            tags=["summarization", "batch"],
        ),
        UseCaseFactory(
            unique_id="extract",
            name="Invoice extraction",
            industry="Finance",
            description="Extracts fields from invoices.",
            input_tokens_min=1000,
            input_tokens_max=8000,
            output_tokens_min=100,
            output_tokens_max=800,
            ttft_min=None,
            ttft_max=None,
            e2e_min=None,
            e2e_max=8.0,
            inter_token_min=None,
            inter_token_max=None,
            tags=["extraction", "chat"],
        ),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=assistant", ["coding", "voice"]),
        ("q=contracts", ["summary"]),
        ("industry=legal", ["summary"]),
        ("industry=software_engineering, telecom", ["coding", "voice"]),
        ("industry=Unknown", []),
        ("tags=chat", ["coding", "extract"]),
        ("tags=chat,coding", ["coding"]),
        ("tags=chat,voice", []),
        ("tags=chat,voice&tags_mode=any", ["coding", "extract", "voice"]),
        ("min_input_tokens=10000", ["coding", "summary"]),
        ("max_input_tokens=999", ["voice"]),
        ("min_input_tokens=500&max_input_tokens=1000", ["coding", "extract"]),
        ("min_output_tokens=1000", ["coding", "summary"]),
        ("max_output_tokens=99", ["voice"]),
        ("max_e2e_latency=2", ["coding", "voice"]),
        ("max_e2e_latency=8", ["coding", "extract", "voice"]),
        ("max_ttft=0.2", ["voice"]),
        ("max_inter_token_latency=0.02", ["coding", "voice"]),
        ("latency_profile=real-time", ["voice"]),
        ("latency_profile=interactive,responsive", ["coding", "extract"]),
        ("latency_profile=batch", ["summary"]),
        ("input_length_profile=short", ["voice"]),
        ("input_length_profile=medium", ["extract"]),
        ("input_length_profile=long", ["coding", "summary"]),
        ("industry=Telecom&max_e2e_latency=5&tags=voice", ["voice"]),
    ],
)
def test_search_filters(reader_client, catalog, query, expected):
    response = reader_client.get(f"{URL}/search?{query}")
    assert response.status_code == 200, response.json()
    assert sorted(ids(response)) == expected


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="PostgreSQL full-text search")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=Voice assis", ["voice"]),
        ("q=assis", ["coding", "voice"]),
        ("q=document summ", ["summary"]),
        ("q=contr", ["summary"]),
        ('q="document summ"', []),  # a quoted phrase stays exact
        ("q=assis -voice", []),  # a negated last word is not a prefix
        ("q=coding or summ", ["coding", "summary"]),
    ],
)
def test_q_matches_a_prefix_of_the_last_word_on_postgres(reader_client, catalog, query, expected):
    response = reader_client.get(f"{URL}/search?{query}")
    assert response.status_code == 200, response.json()
    assert sorted(ids(response)) == expected


@pytest.fixture
def numbered(db):
    UseCaseFactory(unique_id="healthcare_001", name="Patient Summarization")
    UseCaseFactory(unique_id="healthcare_0010", name="Admission triage")
    UseCaseFactory(unique_id="finance_001", name="Fraud alerts", description="Flags transactions.")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=healthcare_001", ["healthcare_001", "healthcare_0010"]),
        ("q=Healthcare_00", ["healthcare_001", "healthcare_0010"]),
        ("q=finance_001", ["finance_001"]),
        ("q=finance_002", []),
    ],
)
def test_q_matches_a_unique_id_exactly_or_by_its_start(reader_client, numbered, query, expected):
    assert sorted(ids(reader_client.get(f"{URL}/search?{query}"))) == expected


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="PostgreSQL full-text search ranking")
def test_q_ranks_the_usecase_named_exactly_first(reader_client, numbered):
    assert ids(reader_client.get(f"{URL}/search?q=healthcare_001")) == ["healthcare_001", "healthcare_0010"]
    assert ids(reader_client.get(f"{URL}/search?q=healthcare_00")) == ["healthcare_0010", "healthcare_001"]


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="PostgreSQL full-text search")
def test_q_search_query_count_is_constant(reader_client, django_assert_max_num_queries):
    for n in range(30):
        UseCaseFactory(unique_id=f"summary_{n:03d}", name=f"Patient summary {n}", tags=["a", f"t{n}"])
    with django_assert_max_num_queries(3):  # count, page, tags
        assert reader_client.get(f"{URL}/search?q=Patient Summ").json()["count"] == 30
    with django_assert_max_num_queries(3):
        assert reader_client.get(f"{URL}/search?q=summary_00&tags=a").json()["count"] == 10


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort_by=input_tokens_max", ["voice", "extract", "coding", "summary"]),
        ("sort_by=input_tokens_max&sort_order=desc", ["summary", "coding", "extract", "voice"]),
        ("sort_by=ttft_min&sort_order=desc", ["summary", "coding", "voice", "extract"]),
        ("sort_by=name", ["coding", "summary", "extract", "voice"]),
        ("", ["coding", "summary", "extract", "voice"]),
        ("ordering=-e2e_max", ["summary", "extract", "coding", "voice"]),
    ],
)
def test_search_sorting(reader_client, catalog, query, expected):
    assert ids(reader_client.get(f"{URL}/search?{query}")) == expected


def test_search_paginates_with_limit_and_offset(reader_client, catalog):
    body = reader_client.get(f"{URL}/search?sort_by=name&limit=2&offset=1").json()
    assert body["count"] == 4
    assert [u["unique_id"] for u in body["results"]] == ["summary", "extract"]


def test_search_default_limit_is_100_and_list_default_is_50(reader_client):
    UseCaseFactory.create_batch(120)
    assert len(reader_client.get(f"{URL}/search").json()["results"]) == 100
    assert len(reader_client.get(URL).json()["results"]) == 50


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("min_input_tokens=lots", "min_input_tokens"),
        ("max_e2e_latency=-1", "max_e2e_latency"),
        ("latency_profile=slow", "latency_profile"),
        ("sort_by=password", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("tags_mode=some", "tags_mode"),
    ],
)
def test_search_rejects_bad_parameters_per_field(reader_client, catalog, query, field):
    response = reader_client.get(f"{URL}/search?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_list_uses_the_same_filters(reader_client, catalog):
    assert ids(reader_client.get(f"{URL}?latency_profile=real-time")) == ["voice"]


def test_list_can_include_soft_deleted(reader_client, catalog):
    services.usecase_delete(usecase=catalog[0])
    assert "voice" not in ids(reader_client.get(URL))
    assert "voice" in ids(reader_client.get(f"{URL}?include_inactive=true"))


def test_search_and_list_query_counts_are_constant(reader_client, django_assert_max_num_queries):
    for n in range(30):
        UseCaseFactory(tags=["a", f"t{n}"])
    with django_assert_max_num_queries(3):  # count, page, tags
        assert len(reader_client.get(f"{URL}/search?tags=a&max_e2e_latency=5").json()["results"]) == 30
    with django_assert_max_num_queries(3):
        assert reader_client.get(URL).json()["count"] == 30


def test_export_query_count_is_constant(reader_client, django_assert_max_num_queries):
    UseCaseFactory.create_batch(30, tags=["a", "b"])
    with django_assert_max_num_queries(3):
        assert len(reader_client.post(f"{URL}/export", {}, format="json").json()["usecases"]) == 30


# --- catalog-wide reads ----------------------------------------------------------------------------------------


def test_industries_and_tags_lists_with_counts(reader_client, catalog):
    assert reader_client.get(f"{URL}/industries/list").json() == [
        {"industry": "Finance", "count": 1},
        {"industry": "Legal", "count": 1},
        {"industry": "Software Engineering", "count": 1},
        {"industry": "Telecom", "count": 1},
    ]
    tags = reader_client.get(f"{URL}/tags/list/").json()
    assert tags[0] == {"tag": "chat", "count": 2}
    assert len(tags) == 7


def test_stats_endpoint(reader_client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        body = reader_client.get(f"{URL}/stats").json()
    assert (body["total"], body["active"]) == (4, 4)
    assert body["by_latency_profile"] == {"real-time": 1, "interactive": 1, "responsive": 1, "batch": 1}
    assert body["ranges"]["input_tokens"]["max"] == 64000
    assert body["ranges_by_industry"]["Telecom"]["e2e"] == {"min": 0.5, "avg": 1.0, "max": 1.5}
    with django_assert_max_num_queries(0):
        assert reader_client.get(f"{URL}/stats").json() == body


def test_stats_reflect_a_write(curator_client, catalog):
    assert curator_client.get(f"{URL}/stats").json()["active"] == 4
    curator_client.delete(f"{URL}/voice")
    body = curator_client.get(f"{URL}/stats").json()
    assert (body["active"], body["inactive"]) == (3, 1)


# --- import / export -------------------------------------------------------------------------------------------


def test_import_endpoint_upserts_and_reports(curator_client):
    make_usecase()
    entries = [usecase_data(name="New name"), CURL_EXAMPLE]
    response = curator_client.post(f"{URL}/import", entries, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "total": 2,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "errors": [],
        "written": True,
    }
    assert UseCase.objects.get(unique_id="healthcare_001").name == "New name"


def test_import_endpoint_is_all_or_nothing(curator_client):
    entries = {"usecases": [CURL_EXAMPLE, usecase_data(input_tokens_max=-3)]}
    response = curator_client.post(f"{URL}/import", entries, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {"usecases.1.input_tokens_max": ["Must be 0 or more."]}
    assert body["report"]["errors"][0]["unique_id"] == "healthcare_001"
    assert not UseCase.objects.exists()


def test_import_endpoint_reports_a_number_beyond_the_column_per_entry(curator_client):
    entries = [CURL_EXAMPLE, usecase_data(input_tokens_max="3000000000")]
    response = curator_client.post(f"{URL}/import", entries, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {"usecases.1.input_tokens_max": ["Must be 100000000 or less."]}
    assert body["report"]["errors"] == [
        {"index": 1, "unique_id": "healthcare_001", "errors": {"input_tokens_max": ["Must be 100000000 or less."]}}
    ]
    assert not UseCase.objects.exists()


def test_import_endpoint_partial_and_dry_run(curator_client):
    entries = [CURL_EXAMPLE, usecase_data(input_tokens_max=-3)]
    dry = curator_client.post(f"{URL}/import?partial=true&dry_run=true", entries, format="json").json()
    assert (dry["created"], len(dry["errors"]), dry["written"]) == (1, 1, False)
    assert not UseCase.objects.exists()
    assert curator_client.post(f"{URL}/import?partial=true", entries, format="json").status_code == 200
    assert list(UseCase.objects.values_list("unique_id", flat=True)) == ["test_001"]


def test_export_with_inactive_then_import_keeps_soft_deleted_usecases_deleted(curator_client):
    make_usecase(unique_id="kept")
    services.usecase_delete(usecase=make_usecase(unique_id="gone"))
    exported = curator_client.post(f"{URL}/export?include_inactive=true", {}, format="json").json()
    assert {entry["unique_id"]: entry["is_active"] for entry in exported["usecases"]} == {"gone": False, "kept": True}
    UseCase.objects.all().delete()
    report = curator_client.post(f"{URL}/import", exported, format="json").json()
    assert (report["created"], report["errors"]) == (2, [])
    assert dict(UseCase.objects.values_list("unique_id", "is_active")) == {"gone": False, "kept": True}
    assert curator_client.get(f"{URL}/gone").status_code == 404
    assert curator_client.post(f"{URL}/export?include_inactive=true", {}, format="json").json() == exported
    assert [u["unique_id"] for u in curator_client.post(f"{URL}/export", {}, format="json").json()["usecases"]] == [
        "kept"
    ]
    assert curator_client.post(f"{URL}/import", exported, format="json").json()["unchanged"] == 2


def test_import_endpoint_soft_delete_needs_the_delete_permission():
    from core.testing import client_for

    make_usecase()
    client = client_for(curator("importer", perms=("add", "change")))
    response = client.post(f"{URL}/import", [usecase_data(is_active=False)], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "usecases.0.is_active": ["Soft-deleting a use case needs the delete permission."]
    }
    assert UseCase.objects.get().is_active is True


def test_export_filters_from_body_and_query_string(reader_client, catalog):
    response = reader_client.post(f"{URL}/export?tags=chat", {"max_e2e_latency": 5}, format="json")
    assert [u["unique_id"] for u in response.json()["usecases"]] == ["coding"]
    assert set(response.json()["usecases"][0]) >= {"unique_id", "tags", "e2e_max", "batch_size_min"}


def test_export_rejects_bad_filters(reader_client):
    response = reader_client.post(f"{URL}/export", {"latency_profile": "slow"}, format="json")
    assert response.status_code == 400
    assert "latency_profile" in response.json()["errors"]


def test_endpoint_paths_win_over_unique_id_routes(reader_client, catalog):
    for path in ("search", "stats", "industries/list", "tags/list"):
        assert reader_client.get(f"{URL}/{path}").status_code == 200, path
