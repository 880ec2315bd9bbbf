"""The README's catalog search examples return what they promise on the shipped data (fixtures/usecases.json)."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from conftest import ROOT

pytestmark = pytest.mark.django_db


def test_readme_search_examples_find_usecases_in_the_shipped_catalog(member_client):
    call_command("import_usecases", str(ROOT / "fixtures" / "usecases.json"), stdout=StringIO())
    readme = (ROOT / "README.md").read_text()
    examples = re.findall(r'`q=([^`]+)` finds [`"]([^`"]+)[`"]', readme)
    assert len(examples) == 2, examples
    for query, expected in examples:
        results = member_client.get("/api/usecases/search", {"q": query}).json()["results"]
        found = {row["name"] for row in results} | {row["unique_id"] for row in results}
        assert expected in found, (query, expected, sorted(found)[:5])
