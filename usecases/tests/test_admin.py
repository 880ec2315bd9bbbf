import json

import pytest
from django.test import Client

from usecases.models import UseCase, UseCaseVersion
from usecases.tests.factories import UseCaseFactory, make_usecase, usecase_data

pytestmark = pytest.mark.django_db
ADMIN = "/admin/usecases/usecase/"


@pytest.fixture
def admin_web(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def form_data(**overrides) -> dict:
    data = {k: ("" if v is None else v) for k, v in usecase_data(**overrides).items()}
    data["tags"] = ", ".join(overrides.get("tags", ["medical", "nlp"]))
    data["_save"] = "Save"
    for prefix in ("versions",):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?industry=Healthcare",
        "?latency_profile=real-time",
        "?input_length_profile=long",
        "?tag=nlp",
        "?q=summar",
        "?is_active__exact=0",
    ],
)
def test_changelist_with_filters_and_search(admin_web, query):
    make_usecase()
    UseCaseFactory(unique_id="rt", e2e_min=0.5, e2e_max=1.0, tags=["voice"])
    response = admin_web.get(ADMIN + query)
    assert response.status_code == 200


def test_changelist_profile_filter_selects_rows(admin_web):
    make_usecase()
    UseCaseFactory(unique_id="rt_one", e2e_min=0.5, e2e_max=1.0)
    content = admin_web.get(ADMIN + "?latency_profile=real-time").content.decode()
    assert "rt_one" in content and "healthcare_001" not in content


def test_add_through_admin_goes_through_the_service(admin_web):
    response = admin_web.post(ADMIN + "add/", form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    usecase = UseCase.objects.get()
    assert usecase.tag_names == ["medical", "nlp"]
    assert UseCaseVersion.objects.get().kind == "created"


def test_admin_form_shows_range_errors(admin_web):
    response = admin_web.post(ADMIN + "add/", form_data(input_tokens_min=5000))
    assert response.status_code == 200
    assert "Must be less than or equal to input_tokens_max" in response.content.decode()
    assert not UseCase.objects.exists()


def test_change_through_admin_records_a_version_and_change_form_shows_history(admin_web):
    usecase = make_usecase()
    response = admin_web.post(f"{ADMIN}{usecase.pk}/change/", form_data(name="Edited in admin"))
    assert response.status_code == 302
    assert UseCase.objects.get().name == "Edited in admin"
    assert list(UseCaseVersion.objects.values_list("version", flat=True)) == [2, 1]
    page = admin_web.get(f"{ADMIN}{usecase.pk}/change/").content.decode()
    assert "Edited in admin" in page and "created" in page


def test_soft_delete_and_restore_actions(admin_web):
    usecase = make_usecase()
    admin_web.post(ADMIN, {"action": "soft_delete", "_selected_action": [usecase.pk]})
    assert UseCase.objects.get().is_active is False
    admin_web.post(ADMIN, {"action": "undelete", "_selected_action": [usecase.pk]})
    assert UseCase.objects.get().is_active is True


def test_export_action_downloads_import_format(admin_web):
    usecase = make_usecase()
    response = admin_web.post(ADMIN, {"action": "export_json", "_selected_action": [usecase.pk]})
    assert response["Content-Disposition"] == 'attachment; filename="usecases.json"'
    assert json.loads(response.content)["usecases"][0]["unique_id"] == "healthcare_001"


def test_restore_version_action(admin_web):
    usecase = make_usecase()
    from usecases import services

    services.usecase_update(usecase=usecase, data={"name": "Second"}, partial=True)
    first = UseCaseVersion.objects.get(version=1)
    admin_web.post("/admin/usecases/usecaseversion/", {"action": "restore_version", "_selected_action": [first.pk]})
    assert UseCase.objects.get().name == "Patient Summarization"
    assert UseCase.objects.get().version == 3
