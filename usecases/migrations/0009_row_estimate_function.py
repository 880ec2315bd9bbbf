"""`usecases_row_estimate(query)`: PostgreSQL's row estimate of a query (its plan's top `Plan Rows`), planning only.

The catalog's count past USECASE_SEARCH_EXACT_COUNT is this estimate. Asked from Python it was a statement of its
own after the page (an `EXPLAIN (FORMAT JSON)` round trip, and the ORM compiling the query a second time); as a
function, the page's statement asks for it in its bounded-count subquery, only when the bound is passed. The query
comes in as text with its values already quoted (what the client-side binding sends anyway); the function runs as
its caller and only plans it. PostgreSQL only.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION usecases_row_estimate(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END $$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS usecases_row_estimate(text)")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0008_covering_search_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
