# The database itself refuses to change an audit event, and (on PostgreSQL) to delete one unless the retention
# purge set `audit.purge` for its transaction: no code path of the product, the admin or a shell can rewrite history.

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION audit_event_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are immutable (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_immutable BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_immutable();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS audit_event_immutable ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_immutable();
"""
SQLITE_UP = """
CREATE TRIGGER audit_event_immutable BEFORE UPDATE ON audit_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are immutable'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS audit_event_immutable;"


def _run(schema_editor, postgres: str, sqlite: str) -> None:
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": postgres, "sqlite": sqlite}.get(vendor)
    if sql:
        with schema_editor.connection.cursor() as cursor:
            for statement in [sql] if vendor == "postgresql" else [s for s in sql.split(";\n") if s.strip()]:
                cursor.execute(statement)


def up(apps, schema_editor):
    _run(schema_editor, POSTGRES_UP, SQLITE_UP)


def down(apps, schema_editor):
    _run(schema_editor, POSTGRES_DOWN, SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(up, down),
    ]
