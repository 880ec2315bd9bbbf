import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from core.exceptions import Conflict, NotFound, ValidationError
from usecases import caching, selectors, services
from usecases.models import UseCase, UseCaseCache, UseCaseTag, UseCaseVersion
from usecases.tests.factories import UseCaseFactory, make_usecase, usecase_data

pytestmark = pytest.mark.django_db


def test_create_records_version_one_with_the_snapshot():
    usecase = make_usecase(industry=" health  care ", tags="NLP,medical")
    version = UseCaseVersion.objects.get(usecase=usecase)
    assert (version.version, version.kind) == (1, "created")
    assert version.snapshot == selectors.usecase_snapshot(usecase)
    assert version.snapshot["industry"] == "Health Care"
    assert version.snapshot["tags"] == ["medical", "nlp"]


def test_create_maps_industry_onto_existing_spelling():
    make_usecase(unique_id="a", industry="Customer Support")
    assert make_usecase(unique_id="b", industry="customer_SUPPORT").industry == "Customer Support"


def test_create_with_existing_unique_id_is_a_field_error():
    make_usecase()
    with pytest.raises(ValidationError) as info:
        make_usecase()
    assert info.value.errors == {"unique_id": ["A use case with this unique_id already exists."]}


def test_update_records_a_new_version_and_keeps_the_old_one():
    usecase = make_usecase()
    updated = services.usecase_update(usecase=usecase, data={"e2e_max": 8.0, "tags": ["nlp"]}, partial=True)
    assert updated.version == 2
    assert list(UseCaseVersion.objects.filter(usecase=usecase).values_list("version", "kind")) == [
        (2, "updated"),
        (1, "created"),
    ]
    assert UseCaseVersion.objects.get(usecase=usecase, version=1).snapshot["e2e_max"] == 6.0
    assert sorted(UseCaseTag.objects.filter(usecase=usecase).values_list("name", flat=True)) == ["nlp"]


def test_update_without_a_change_records_no_version():
    usecase = make_usecase()
    services.usecase_update(usecase=usecase, data={"name": usecase.name}, partial=True)
    assert UseCaseVersion.objects.filter(usecase=usecase).count() == 1


def test_full_update_clears_fields_left_out():
    usecase = make_usecase()
    data = {k: v for k, v in usecase_data().items() if not k.startswith(("ttft", "e2e", "tags"))}
    updated = services.usecase_update(usecase=usecase, data=data)
    assert updated.e2e_max is None
    assert updated.tag_names == []


def test_unique_id_cannot_change():
    usecase = make_usecase()
    with pytest.raises(ValidationError) as info:
        services.usecase_update(usecase=usecase, data={"unique_id": "other"}, partial=True)
    assert "unique_id" in info.value.errors


def test_restore_version_brings_back_content_as_a_new_version():
    usecase = make_usecase()
    services.usecase_update(usecase=usecase, data={"name": "Renamed", "tags": []}, partial=True)
    restored = services.usecase_restore_version(usecase=usecase, version=1)
    assert (restored.name, restored.tag_names, restored.version) == ("Patient Summarization", ["medical", "nlp"], 3)
    assert UseCaseVersion.objects.get(usecase=usecase, version=3).kind == "restored"


def test_restore_unknown_version_is_not_found():
    with pytest.raises(NotFound):
        services.usecase_restore_version(usecase=make_usecase(), version=9)


def test_soft_delete_hides_and_undelete_brings_back():
    usecase = make_usecase()
    services.usecase_delete(usecase=usecase)
    assert UseCase.objects.get(pk=usecase.pk).is_active is False
    with pytest.raises(NotFound):
        selectors.usecase_get(unique_id=usecase.unique_id)
    assert not selectors.usecase_list_active().exists()
    services.usecase_undelete(usecase=usecase)
    assert selectors.usecase_get(unique_id=usecase.unique_id).is_active is True


def test_undelete_of_an_active_usecase_is_a_conflict():
    with pytest.raises(Conflict):
        services.usecase_undelete(usecase=make_usecase())


def test_hard_delete_removes_row_versions_and_tags():
    usecase = make_usecase()
    services.usecase_delete(usecase=usecase, hard=True)
    assert not UseCase.objects.exists()
    assert not UseCaseVersion.objects.exists()
    assert not UseCaseTag.objects.exists()


def test_creating_over_a_soft_deleted_usecase_says_undelete():
    services.usecase_delete(usecase=make_usecase())
    with pytest.raises(ValidationError) as info:
        make_usecase()
    assert info.value.errors["unique_id"] == ["A deleted use case has this unique_id; undelete it instead."]


# --- cached values (UseCaseCache rows with a TTL) -------------------------------------------------------------


def test_cached_value_is_returned_until_its_ttl_expires():
    usecase = make_usecase()
    start = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        services.cache_value(usecase=usecase, key="hardware_recs", value={"gpus": ["A100"]}, ttl_seconds=3600)
        clock.shift(3599)
        assert services.get_cached_value(usecase=usecase, key="hardware_recs") == {"gpus": ["A100"]}
        clock.shift(2)
        assert services.get_cached_value(usecase=usecase, key="hardware_recs") is None
    assert not UseCaseCache.objects.exists()


def test_cached_value_without_ttl_does_not_expire_and_can_be_looked_up_by_unique_id():
    usecase = make_usecase()
    services.cache_value(usecase=usecase.unique_id, key="k", value=[1, 2])
    with time_machine.travel(dt.timedelta(days=365)):
        assert services.get_cached_value(usecase="healthcare_001", key="k") == [1, 2]


def test_cached_values_are_dropped_when_the_usecase_changes():
    usecase = make_usecase()
    services.cache_value(usecase=usecase, key="hardware_recs", value={"gpus": ["A100"]}, ttl_seconds=3600)
    services.usecase_update(usecase=usecase, data={"input_tokens_max": 4000}, partial=True)
    assert services.get_cached_value(usecase=usecase, key="hardware_recs") is None
    assert not UseCaseCache.objects.exists()


def test_cache_value_overwrites_the_same_key():
    usecase = make_usecase()
    services.cache_value(usecase=usecase, key="k", value=1, ttl_seconds=60)
    services.cache_value(usecase=usecase, key="k", value=2, ttl_seconds=60)
    assert services.get_cached_value(usecase=usecase, key="k") == 2
    assert UseCaseCache.objects.count() == 1


def test_purge_expired_deletes_only_expired_values():
    usecase = make_usecase()
    with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tick=False) as clock:
        services.cache_value(usecase=usecase, key="short", value=1, ttl_seconds=10)
        services.cache_value(usecase=usecase, key="long", value=2, ttl_seconds=1000)
        clock.shift(11)
        assert services.usecase_cache_purge_expired() == 1
    assert list(UseCaseCache.objects.values_list("key", flat=True)) == ["long"]


# --- hot reads through Django's cache --------------------------------------------------------------------------


def test_detail_is_served_from_the_cache_without_queries(django_assert_num_queries):
    make_usecase()
    selectors.usecase_get(unique_id="healthcare_001")
    with django_assert_num_queries(0):
        cached = selectors.usecase_get(unique_id="healthcare_001")
    assert cached.tag_names == ["medical", "nlp"]


def test_update_invalidates_the_cached_detail():
    usecase = make_usecase()
    selectors.usecase_get(unique_id="healthcare_001")
    assert cache.get(caching.detail_key("healthcare_001")) is not None
    services.usecase_update(usecase=usecase, data={"name": "Renamed"}, partial=True)
    assert selectors.usecase_get(unique_id="healthcare_001").name == "Renamed"


def test_writes_invalidate_stats_and_lists(django_capture_on_commit_callbacks):
    make_usecase()
    assert selectors.usecase_stats()["total"] == 1
    assert selectors.tag_list() == [{"tag": "medical", "count": 1}, {"tag": "nlp", "count": 1}]
    with django_capture_on_commit_callbacks(execute=True):
        make_usecase(unique_id="other", industry="Finance", tags=["nlp"])
    assert selectors.usecase_stats()["total"] == 2
    assert selectors.industry_list() == [{"industry": "Finance", "count": 1}, {"industry": "Healthcare", "count": 1}]
    assert selectors.tag_list()[0] == {"tag": "nlp", "count": 2}


# --- search from Python ----------------------------------------------------------------------------------------


def test_search_from_python_uses_the_api_parameter_names():
    UseCaseFactory(unique_id="small", input_tokens_min=10, input_tokens_max=100)
    UseCaseFactory(unique_id="large", input_tokens_min=5000, input_tokens_max=20000)
    found = selectors.usecase_search(min_input_tokens=1000, sort_by="input_tokens_max", sort_order="desc")
    assert [u.unique_id for u in found] == ["large"]


def test_search_from_python_rejects_bad_parameters():
    with pytest.raises(ValidationError) as info:
        selectors.usecase_search(latency_profile="slow")
    assert "latency_profile" in info.value.errors


def test_search_from_python_takes_the_product_documents_call():
    UseCaseFactory(unique_id="triage", industry="Healthcare", e2e_min=1.0, e2e_max=2.0, tags=["real-time", "nlp"])
    UseCaseFactory(unique_id="slow", industry="Healthcare", e2e_min=3.0, e2e_max=9.0, tags=["real-time"])
    UseCaseFactory(unique_id="untagged", industry="Healthcare", e2e_min=1.0, e2e_max=2.0)
    found = selectors.usecase_search(industry="Healthcare", max_e2e_latency=2.0, tags=["real-time"], limit=10)
    assert [u.unique_id for u in found] == ["triage"]


@pytest.mark.parametrize("tags", [["real-time", "nlp"], ("real-time", "nlp"), "real-time, nlp"])
def test_search_from_python_takes_tags_as_a_list_tuple_or_comma_string(tags):
    UseCaseFactory(unique_id="both", tags=["real-time", "nlp"])
    UseCaseFactory(unique_id="one", tags=["real-time"])
    assert [u.unique_id for u in selectors.usecase_search(tags=tags)] == ["both"]
    found = selectors.usecase_search(tags=tags, tags_mode="any")
    assert sorted(u.unique_id for u in found) == ["both", "one"]


def test_search_from_python_honours_limit_and_offset():
    for n in range(5):
        UseCaseFactory(unique_id=f"uc_{n}", name=f"Usecase {n}")
    assert [u.unique_id for u in selectors.usecase_search(sort_by="name", limit=2, offset=1)] == ["uc_1", "uc_2"]
    assert [u.unique_id for u in selectors.usecase_search(sort_by="name", offset=3)] == ["uc_3", "uc_4"]
    assert selectors.usecase_search(limit=2).count() == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "10"}, "limit"), ({"offset": -1}, "offset")],
)
def test_search_from_python_rejects_bad_limit_and_offset(params, field):
    with pytest.raises(ValidationError) as info:
        selectors.usecase_search(**params)
    assert set(info.value.errors) == {field}


def test_search_from_python_rejects_unknown_keywords():
    with pytest.raises(TypeError, match="'industries', 'page'"):
        selectors.usecase_search(industries="Healthcare", page=2)


def test_purge_task_calls_the_service():
    from usecases.tasks import purge_expired_usecase_cache

    usecase = make_usecase()
    services.cache_value(usecase=usecase, key="old", value=1, ttl_seconds=1)
    with time_machine.travel(dt.timedelta(seconds=5)):
        assert purge_expired_usecase_cache() == 1
    assert not UseCaseCache.objects.exists()
