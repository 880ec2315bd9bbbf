"""Covering indexes for the catalog search's page on PostgreSQL (nothing elsewhere).

A search's page walks an index in the order it shows (name, or industry then name) and rejects the rows the other
filters do not keep; each rejected row cost a heap page (tags=chatbot,rag read 4,411 rows for a page of 100). With
the filtered columns and the id in the index, the page's ids come from an index-only scan (selectors.
usecase_search_page asks for them in a narrow subquery), and only the 100 rows shown are read from the table.
`search_tags` (0006) is PostgreSQL's only, hence raw SQL; SQLite keeps the model's indexes.
"""

from django.db import migrations

FILTERED = (
    "id, search_tags, input_tokens_min, input_tokens_max, output_tokens_min, output_tokens_max, "
    "e2e_min, e2e_max, ttft_min, ttft_max, inter_token_min, inter_token_max"
)
INDEXES = {
    "usecase_active_name_cover": f"(name, unique_id) INCLUDE (industry, {FILTERED})",
    "usecase_active_industry_cover": f"(industry, name, unique_id) INCLUDE ({FILTERED})",
    # The sorted token search (latency profile + min_input_tokens, sort_by=input_tokens_max): its sort key and
    # tie-break beside the two filtered columns.
    "usecase_active_e2e_in_cover": "(e2e_max, input_tokens_max) INCLUDE (id, unique_id, input_tokens_min)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON usecases_usecase {columns} WHERE is_active")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0007_active_e2e_input_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
