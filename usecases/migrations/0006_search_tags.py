"""The tags of each usecase as a GIN-indexed `text[]` column on PostgreSQL (`search_tags`); nothing elsewhere.

A tag filter joined the tag table once per tag (`EXISTS` probes of its unique index): `tags=chatbot,rag` took 128 ms
in PostgreSQL at 100k usecases, walking the name index and probing two tags per row. `search_tags @> ARRAY[...]` is
one bitmap AND of the GIN posting lists, and the planner estimates it from the column's element statistics.

The relation stays the one place tags are written (services, import, admin, fixtures); statement-level triggers on
it keep `search_tags` equal to the sorted names of the usecase's tags in the same statement, so no write path can
leave it stale. Like `search_document` (0003) this is a derived, PostgreSQL-only column: SQLite searches the relation.
"""

from django.db import migrations

COLUMN = "search_tags"
INDEX = "usecase_search_tags"
FUNCTION = "usecases_search_tags_sync"
# Per operation: the transition tables its trigger sees, and the usecases they name.
TRIGGERS = {
    "INSERT": ("NEW TABLE AS added", "SELECT usecase_id FROM added"),
    "DELETE": ("OLD TABLE AS removed", "SELECT usecase_id FROM removed"),
    "UPDATE": (
        "OLD TABLE AS removed NEW TABLE AS added",
        "SELECT usecase_id FROM removed UNION SELECT usecase_id FROM added",
    ),
}


def _function(operation: str, usecases: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {FUNCTION}_{operation.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE usecases_usecase AS u
       SET {COLUMN} = COALESCE(
           (SELECT array_agg(t.name ORDER BY t.name) FROM usecases_usecasetag AS t WHERE t.usecase_id = u.id), '{{}}')
     WHERE u.id IN ({usecases});
    RETURN NULL;
END $$"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE usecases_usecase ADD COLUMN IF NOT EXISTS {COLUMN} text[] NOT NULL DEFAULT '{{}}'"
    )
    schema_editor.execute(
        f"UPDATE usecases_usecase AS u SET {COLUMN} = t.names FROM ("
        "SELECT usecase_id, array_agg(name ORDER BY name) AS names FROM usecases_usecasetag GROUP BY usecase_id"
        ") AS t WHERE t.usecase_id = u.id"
    )
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON usecases_usecase USING gin ({COLUMN})")
    for operation, (transition, usecases) in TRIGGERS.items():
        schema_editor.execute(_function(operation, usecases))
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION}_{operation.lower()} ON usecases_usecasetag")
        schema_editor.execute(
            f"CREATE TRIGGER {FUNCTION}_{operation.lower()} AFTER {operation} ON usecases_usecasetag "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}_{operation.lower()}()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for operation in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION}_{operation.lower()} ON usecases_usecasetag")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}_{operation.lower()}()")
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"ALTER TABLE usecases_usecase DROP COLUMN IF EXISTS {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0005_use_case_verbose_names")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
