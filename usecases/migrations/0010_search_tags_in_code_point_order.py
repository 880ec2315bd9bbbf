"""`search_tags` (0006) in code-point order, the order Python's `sorted` gives and the API answers with.

The search page is now written by PostgreSQL (usecases.api.rendering) and its tags come from this column as they are
stored: sorting them per row in the page's statement cost a fifth of the JSON it writes. The triggers sorted by the
database's collation (in en_US "a-b" < "ab" < "Zed", in code points "Zed" < "a-b" < "ab"); they now sort with
COLLATE "C", which for UTF-8 is code-point order, and the rows stored in another order are sorted again.
PostgreSQL only.
"""

import importlib

from django.db import migrations

search_tags = importlib.import_module("usecases.migrations.0006_search_tags")
RESORT = """
UPDATE usecases_usecase
   SET search_tags = ARRAY(SELECT tag FROM unnest(search_tags) AS tag ORDER BY tag COLLATE "C")
 WHERE search_tags <> ARRAY(SELECT tag FROM unnest(search_tags) AS tag ORDER BY tag COLLATE "C")
"""


def _functions(schema_editor, order: str) -> None:
    for operation, (_, usecases) in search_tags.TRIGGERS.items():
        sql = search_tags._function(operation, usecases)
        schema_editor.execute(sql.replace("ORDER BY t.name", f"ORDER BY t.name{order}"))


def code_point_order(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _functions(schema_editor, ' COLLATE "C"')
        schema_editor.execute(RESORT)


def collation_order(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _functions(schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0009_row_estimate_function")]

    operations = [migrations.RunPython(code_point_order, collation_order, elidable=False)]
