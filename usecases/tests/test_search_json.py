"""The search page PostgreSQL writes as JSON (usecases.api.rendering): the same bytes DRF's renderer writes for the
serializer's representation, whatever the rows hold, in one statement."""

import json
import random
import struct
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import connection

from usecases.api import rendering
from usecases.models import UseCase
from usecases.tests.factories import UseCaseFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="PostgreSQL writes the page only on PostgreSQL"),
]
URL = "/api/usecases"
STRANGE = 'quote " backslash \\ newline \n tab \t \x01 \x1f bell \x07 del \x7f é 漢字 😀 \u2028 \u2029 </script>'


def _both(client, monkeypatch, path, **headers):
    """The body written by PostgreSQL, and the one DRF renders from the rows (the path it replaces)."""
    written = client.get(path, **headers)
    monkeypatch.setattr(rendering, "page_json_applies", lambda: False)
    rendered = client.get(path, **headers)
    monkeypatch.undo()
    assert written.status_code == rendered.status_code == 200, (path, written.content[:300])
    return written, rendered


@pytest.fixture
def odd_catalog():
    """Rows with every kind of value a page writes: escapes, non-ASCII, empty and unsorted tags, nulls, integral and
    extreme floats (written past validation, as a bulk write could), datetimes with and without microseconds."""
    UseCaseFactory(unique_id="strange", name=STRANGE, description=STRANGE, industry="Légal", tags=["zz", "Zed", "a-b"])
    UseCaseFactory(
        unique_id="sparse",
        description="",
        ttft_min=None,
        ttft_max=None,
        e2e_min=None,
        e2e_max=None,
        inter_token_min=None,
        inter_token_max=None,
        batch_size_min=4,
        batch_size_max=64,
        beam_size_min=1,
        beam_size_max=4,
    )
    floats = [2.0, 0.1, 1e-05, 604800.0, 1e15, 1.0000000000000002e15, 1.23e22, 5e-324, 1.5e-7, 123456.789, -0.0]
    for n, value in enumerate(floats):
        usecase = UseCaseFactory(unique_id=f"float_{n:02d}", tags=[f"t{n}"])
        UseCase.objects.filter(pk=usecase.pk).update(
            ttft_min=value,
            ttft_max=value,
            inter_token_min=value,
            inter_token_max=abs(value) + 1,
            e2e_max=abs(value) + 10,
        )
    for n, stamp in enumerate(
        [datetime(2026, 11, 30, 20, 12, tzinfo=UTC), datetime(1999, 12, 31, 23, 0, 0, 5, tzinfo=UTC)]
    ):
        usecase = UseCaseFactory(
            unique_id=f"stamped_{n}", e2e_min=1.0, e2e_max=[1.0, 2.0][n], input_tokens_max=[1000, 10001][n]
        )
        UseCase.objects.filter(pk=usecase.pk).update(created_at=stamp, updated_at=stamp)
    UseCaseFactory(unique_id="gone", is_active=False, tags=["t1"])


@pytest.mark.parametrize(
    "query",
    [
        "",
        "sort_by=unique_id",
        "sort_by=ttft_min&sort_order=desc&limit=5&offset=3",
        "include_inactive=true",
        "tags=t1,t2&tags_mode=any",
        "industry=legal",
        "q=record",
        "q=record&limit=2&offset=4",
        "q=record&offset=500",  # a ranked search's empty page still counts
        "offset=500",
        "tags=none-such",
    ],
)
def test_the_written_page_is_the_bytes_drf_renders(reader_client, monkeypatch, odd_catalog, query):
    written, rendered = _both(reader_client, monkeypatch, f"{URL}/search?{query}")
    assert written.content == rendered.content
    assert written["Content-Type"] == rendered["Content-Type"]
    assert written.data == rendered.data  # tests and the browsable API read it as a mapping


def test_the_list_and_long_pages_too(reader_client, monkeypatch, odd_catalog, settings):
    settings.USECASE_SEARCH_EXACT_COUNT = 3  # past the bound: the estimate, flagged
    for path in (URL, f"{URL}?limit=1000", f"{URL}/search?limit=7"):
        written, rendered = _both(reader_client, monkeypatch, path)
        assert written.content == rendered.content
    assert json.loads(written.content)["count_exact"] is False


def test_an_indented_answer_is_written_again_the_same(reader_client, monkeypatch, odd_catalog):
    accept = {"HTTP_ACCEPT": "application/json; indent=2"}
    written, rendered = _both(reader_client, monkeypatch, f"{URL}/search", **accept)
    assert written.content == rendered.content
    assert b'\n  "count"' in written.content


def test_the_browsable_api_still_shows_the_page(reader_client, odd_catalog):
    response = reader_client.get(f"{URL}/search?limit=3", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"float_00" in response.content


def test_outside_utc_the_page_goes_through_the_serializer(reader_client, monkeypatch, odd_catalog, settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert not rendering.page_json_applies()
    body = reader_client.get(f"{URL}/search?sort_by=unique_id").json()
    stamped = next(row for row in body["results"] if row["unique_id"] == "stamped_1")
    assert stamped["created_at"] == "2000-01-01T00:00:00.000005+01:00"


def test_a_written_page_is_one_statement(reader_client, odd_catalog, django_assert_num_queries):
    reader_client.get(f"{URL}/search?industry=legal")  # the industry spellings, read once per catalog change
    for query in ("", "q=record", "tags=t1&industry=healthcare", "q=record&offset=500"):
        with django_assert_num_queries(1):
            assert reader_client.get(f"{URL}/search?{query}").status_code == 200


def test_floats_are_written_as_python_writes_them():
    rng = random.Random(21)
    values = [0.0, -0.0, 2.0, 0.1, 1e-05, 1e15, 1e16, 1.23e22, 5e-324, 1.7976931348623157e308, 604800.0]
    for _ in range(3000):
        values.append(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
        values.append(round(rng.uniform(0, 1000), rng.randint(0, 4)))
        values.append(rng.uniform(1e14, 1e17))
    values = [value for value in values if value == value and abs(value) != float("inf")]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rendering.float_sql('v')} FROM unnest(%s::float8[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [values],
        )
        written = [rendering.finish_rows(row[0])[1:-1] for row in cursor.fetchall()]
    assert written == [json.dumps(value) for value in values]


def test_stored_tags_are_in_code_point_order_whatever_the_collation(reader_client):
    # The page writes search_tags as stored, so the triggers must sort as Python does, not by the database's
    # collation: give the tag column a collation that orders otherwise ("a-b" < "ab" < "Zed" in ICU's root locale).
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")
        if cursor.fetchone() is None:
            pytest.skip("this PostgreSQL has no ICU collations")
        cursor.execute('ALTER TABLE usecases_usecasetag ALTER COLUMN name TYPE varchar(64) COLLATE "und-x-icu"')
    tags = ["ab", "Zed", "a-b", "é", "z", "A"]
    usecase = UseCaseFactory(unique_id="collated", tags=tags)
    usecase.tags.filter(name="z").update(name="y")  # and an update of a tag row
    expected = sorted([*(tag for tag in tags if tag != "z"), "y"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_tags FROM usecases_usecase WHERE id = %s", [usecase.pk])
        assert cursor.fetchone()[0] == expected
    assert reader_client.get(f"{URL}/search?q=collated").json()["results"][0]["tags"] == expected
