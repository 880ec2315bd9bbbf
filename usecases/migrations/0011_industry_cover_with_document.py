"""The industry covering index (0008) also holds the stored text document (0003), on PostgreSQL only.

A ranked text search (`q`) with an industry ranks every match in that industry: it read each match's heap page for
its tsvector (862 pages for `q=assistant&industry=Retail` at 100k rows, behind a GIN scan of the 13,000 rows
matching the word anywhere). With the document beside the other filtered columns, the industry's slice of this
index answers the whole ranking by an index-only scan (~700 index pages, no GIN scan, no heap page), and the
100 rows shown are read by id. The column is generated, so every write keeps the index in step; no other index
is added, so writes pay one wider tuple, not a new index. A `q` without an industry still goes through the GIN
index and the table.
"""

from django.db import migrations

INDEX = "usecase_active_industry_cover"
FILTERED = (
    "id, search_tags, input_tokens_min, input_tokens_max, output_tokens_min, output_tokens_max, "
    "e2e_min, e2e_max, ttft_min, ttft_max, inter_token_min, inter_token_max"
)


def _replace(schema_editor, included: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(
        f"CREATE INDEX {INDEX} ON usecases_usecase (industry, name, unique_id) INCLUDE ({included}) WHERE is_active"
    )


def create(apps, schema_editor):
    _replace(schema_editor, f"{FILTERED}, search_document")


def drop(apps, schema_editor):
    _replace(schema_editor, FILTERED)


class Migration(migrations.Migration):
    dependencies = [("usecases", "0010_search_tags_in_code_point_order")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
