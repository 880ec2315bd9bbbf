import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from core.exceptions import NotFound
from usecases import bootstrap, selectors, services
from usecases.models import UseCase, UseCaseTag, UseCaseVersion
from usecases.tests.factories import curator, make_usecase, usecase_data

pytestmark = pytest.mark.django_db
FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "usecases.json"


def test_import_creates_updates_and_reports_unchanged():
    make_usecase(unique_id="keep")
    make_usecase(unique_id="change")
    report = services.usecases_import(
        data={
            "usecases": [
                usecase_data(unique_id="keep"),
                usecase_data(unique_id="change", name="Changed"),
                usecase_data(unique_id="new", industry="FINANCE"),
            ]
        }
    )
    assert report == {"total": 3, "created": 1, "updated": 1, "unchanged": 1, "errors": [], "written": True}
    assert UseCase.objects.get(unique_id="change").name == "Changed"
    assert UseCase.objects.get(unique_id="new").industry == "Finance"
    assert list(UseCaseVersion.objects.filter(usecase__unique_id="change").values_list("version", "kind")) == [
        (2, "imported"),
        (1, "created"),
    ]
    assert UseCaseVersion.objects.filter(usecase__unique_id="keep").count() == 1


def test_import_is_all_or_nothing_by_default():
    entries = [usecase_data(unique_id="good"), usecase_data(unique_id="bad", input_tokens_min="lots")]
    with pytest.raises(services.ImportRejected) as info:
        services.usecases_import(data=entries)
    assert info.value.report["errors"] == [
        {"index": 1, "unique_id": "bad", "errors": {"input_tokens_min": ["A valid integer is required."]}}
    ]
    assert info.value.errors == {"usecases.1.input_tokens_min": ["A valid integer is required."]}
    assert not UseCase.objects.exists()


def test_partial_import_writes_the_valid_entries():
    entries = [usecase_data(unique_id="good"), usecase_data(unique_id="bad", e2e_min=9, e2e_max=1)]
    report = services.usecases_import(data=entries, partial=True)
    assert (report["created"], len(report["errors"])) == (1, 1)
    assert list(UseCase.objects.values_list("unique_id", flat=True)) == ["good"]


def test_dry_run_reports_and_writes_nothing():
    report = services.usecases_import(data=[usecase_data()], dry_run=True)
    assert (report["created"], report["written"]) == (1, False)
    assert not UseCase.objects.exists()


def test_import_flags_duplicate_ids_in_one_file():
    with pytest.raises(services.ImportRejected) as info:
        services.usecases_import(data=[usecase_data(), usecase_data(name="again")])
    assert info.value.report["errors"][0]["errors"] == {
        "unique_id": ["Duplicate unique_id in this file (first at index 0)."]
    }


def test_import_accepts_messy_real_world_entries():
    messy = {
        "unique_id": "legacy_1",
        "name": " Legacy ",
        "industry": "  customer   SUPPORT",
        "input_tokens_min": "100",
        "input_tokens_max": "1,500",
        "output_tokens_min": 50.0,
        "output_tokens_max": "200",
        "batch_size": "4",
        "beam_size": 1,
        "e2e_max": "3.5",
        "ttft_min": "",
    }
    services.usecases_import(data=[messy, usecase_data(unique_id="cs2", industry="Customer support")])
    usecase = UseCase.objects.get(unique_id="legacy_1")
    assert (usecase.name, usecase.industry, usecase.input_tokens_max) == ("Legacy", "Customer Support", 1500)
    assert (usecase.batch_size_min, usecase.batch_size_max, usecase.e2e_max, usecase.ttft_min) == (4, 4, 3.5, None)
    assert UseCase.objects.get(unique_id="cs2").industry == "Customer Support"


def test_import_reactivates_a_soft_deleted_usecase():
    services.usecase_delete(usecase=make_usecase())
    report = services.usecases_import(data=[usecase_data()])
    assert report["updated"] == 1
    assert UseCase.objects.get().is_active is True


def test_import_honours_is_active_and_is_unchanged_when_repeated():
    kept = make_usecase(unique_id="kept")
    selectors.usecase_get(unique_id="kept")  # cached: the import must drop it
    entries = [usecase_data(unique_id="kept", is_active=False), usecase_data(unique_id="new", is_active="false")]
    report = services.usecases_import(data=entries)
    assert (report["created"], report["updated"]) == (1, 1)
    assert dict(UseCase.objects.values_list("unique_id", "is_active")) == {"kept": False, "new": False}
    with pytest.raises(NotFound):
        selectors.usecase_get(unique_id="kept")
    assert services.usecases_import(data=entries)["unchanged"] == 2
    kept.refresh_from_db()
    assert kept.version == 2


def test_import_reports_a_bad_is_active_per_entry():
    with pytest.raises(services.ImportRejected) as info:
        services.usecases_import(data=[usecase_data(is_active="maybe")])
    assert info.value.report["errors"] == [
        {"index": 0, "unique_id": "healthcare_001", "errors": {"is_active": ["Must be true or false."]}}
    ]
    assert not UseCase.objects.exists()


def test_import_soft_delete_needs_the_delete_permission_of_the_user():
    make_usecase(unique_id="a")
    make_usecase(unique_id="b")
    editor = curator("editor", perms=("add", "change"))
    entries = [usecase_data(unique_id="a", name="Renamed"), usecase_data(unique_id="b", is_active=False)]
    report = services.usecases_import(data=entries, partial=True, user=editor)
    assert report["errors"] == [
        {
            "index": 1,
            "unique_id": "b",
            "errors": {"is_active": ["Soft-deleting a use case needs the delete permission."]},
        }
    ]
    assert dict(UseCase.objects.values_list("unique_id", "is_active")) == {"a": True, "b": True}
    report = services.usecases_import(data=entries, user=curator())
    assert (report["updated"], report["unchanged"], report["errors"]) == (1, 1, [])
    assert UseCase.objects.get(unique_id="b").is_active is False


def test_import_rejects_a_body_that_is_not_a_list():
    with pytest.raises(services.ValidationError):
        services.usecases_import(data={"items": []})


def test_export_then_import_round_trip_is_lossless():
    services.usecases_import(data=json.loads(FIXTURE.read_text()))
    exported = selectors.usecases_export()
    UseCase.objects.all().delete()
    report = services.usecases_import(data=json.loads(json.dumps(exported)))
    assert report["created"] == len(exported["usecases"]) and not report["errors"]
    assert selectors.usecases_export() == exported
    assert services.usecases_import(data=exported)["unchanged"] == len(exported["usecases"])


def test_export_takes_search_filters():
    make_usecase(unique_id="a", industry="Finance")
    make_usecase(unique_id="b", industry="Legal")
    assert [u["unique_id"] for u in selectors.usecases_export(industry="legal")["usecases"]] == ["b"]


def test_shipped_fixture_is_large_varied_and_valid():
    entries = json.loads(FIXTURE.read_text())
    report = services.usecases_import(data=entries)
    assert report["created"] == len(entries) >= 112
    industries = selectors.industry_list()
    assert len(industries) >= 12
    stats = selectors.usecase_stats()
    assert all(count > 0 for count in stats["by_latency_profile"].values())
    assert all(count > 0 for count in stats["by_input_length_profile"].values())
    assert UseCaseTag.objects.exists()


def test_import_usecases_command_loads_a_file(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([usecase_data()]))
    out = StringIO()
    call_command("import_usecases", str(path), stdout=out)
    assert UseCase.objects.get().unique_id == "healthcare_001"
    assert "created 1" in out.getvalue()


def test_import_usecases_command_fails_on_invalid_file_without_writing(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([usecase_data(input_tokens_min=-5)]))
    with pytest.raises(Exception, match="invalid"):
        call_command("import_usecases", str(path), stdout=StringIO())
    assert not UseCase.objects.exists()


def test_bootstrap_imports_the_fixture_once():
    first = bootstrap.bootstrap(stdout=StringIO())
    count = UseCase.objects.count()
    assert count >= 112 and first == {"usecases": count}
    bootstrap.bootstrap(stdout=StringIO())
    assert UseCase.objects.count() == count
    assert UseCaseVersion.objects.count() == count


def test_stats_figures_on_known_data():
    make_usecase(
        unique_id="a",
        industry="Finance",
        input_tokens_min=100,
        input_tokens_max=500,
        e2e_min=1,
        e2e_max=2,
        tags=["chat", "nlp"],
    )
    make_usecase(
        unique_id="b",
        industry="Finance",
        input_tokens_min=1000,
        input_tokens_max=3000,
        e2e_min=4,
        e2e_max=8,
        tags=["nlp"],
    )
    make_usecase(
        unique_id="c",
        industry="Legal",
        input_tokens_min=20000,
        input_tokens_max=50000,
        e2e_min=None,
        e2e_max=None,
        ttft_min=None,
        ttft_max=None,
        tags=["nlp", "batch"],
    )
    services.usecase_delete(usecase=make_usecase(unique_id="gone", industry="Retail"))
    stats = selectors.usecase_stats()
    assert (stats["total"], stats["active"], stats["inactive"]) == (4, 3, 1)
    assert stats["by_industry"] == {"Finance": 2, "Legal": 1}
    assert stats["by_latency_profile"] == {"real-time": 1, "interactive": 0, "responsive": 1, "batch": 1}
    assert stats["by_input_length_profile"] == {"short": 1, "medium": 1, "long": 1}
    assert stats["top_tags"] == [{"tag": "nlp", "count": 3}, {"tag": "batch", "count": 1}, {"tag": "chat", "count": 1}]
    # midpoints 300, 2000, 35000 -> 12433.3333; e2e midpoints 1.5 and 6 (c has none) -> 3.75
    assert stats["ranges"]["input_tokens"] == {"min": 100, "avg": 12433.3333, "max": 50000}
    assert stats["ranges"]["e2e"] == {"min": 1.0, "avg": 3.75, "max": 8.0}
    assert stats["ranges_by_industry"]["Finance"]["input_tokens"] == {"min": 100, "avg": 1150.0, "max": 3000}
    assert stats["ranges_by_industry"]["Legal"]["e2e"] == {"min": None, "avg": None, "max": None}
