"""A stored full-text document on PostgreSQL, in place of the expression index of 0002; nothing elsewhere.

Ranking a match needs its tsvector: with an expression index PostgreSQL parsed name and description again for
every matching row (173 ms for the 1,724 matches of `q=contract review` at 100k rows). A generated column is
parsed once per write; usecases.filters.search_document() reads it. Same expression, so ranks are unchanged.
"""

from django.db import migrations

COLUMN = "search_document"
INDEX = "usecase_search_document"
EXPRESSION = "to_tsvector('english'::regconfig, COALESCE(name, '') || ' ' || COALESCE(description, ''))"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE usecases_usecase ADD COLUMN IF NOT EXISTS {COLUMN} tsvector "
            f"GENERATED ALWAYS AS ({EXPRESSION}) STORED"
        )
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON usecases_usecase USING gin ({COLUMN})")
        schema_editor.execute("DROP INDEX IF EXISTS usecase_search_gin")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS usecase_search_gin ON usecases_usecase USING gin (({EXPRESSION}))"
        )
        schema_editor.execute(f"ALTER TABLE usecases_usecase DROP COLUMN IF EXISTS {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0002_search_gin_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
