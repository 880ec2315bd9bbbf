"""A GIN index for full-text search on PostgreSQL; nothing on other databases (they search with icontains).

The expression is exactly the one usecases.filters.search_vector() produces, so the planner can use the index.
"""

from django.db import migrations

INDEX = "usecase_search_gin"
EXPRESSION = "to_tsvector('english'::regconfig, COALESCE(name, '') || ' ' || COALESCE(description, ''))"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON usecases_usecase USING gin (({EXPRESSION}))")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
