"""Checks that a statement can be answered from one covering index (PostgreSQL): by the index's definition against
the columns the statement names, not by the plan PostgreSQL picks on a test table of a few rows — that choice hangs
on the statistics and visibility map earlier tests leave (autovacuum runs while the suite does), so a plan check
passed alone and failed in the whole suite."""

from __future__ import annotations

import re

from django.db import connection


def index_definition(index: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index])
        (definition,) = cursor.fetchone()
    return definition


def columns_outside_index(statement: str, table: str, index: str) -> tuple[set[str], set[str]]:
    """(the table's columns the statement names, those of them the index holds neither as a key nor included nor
    implies by its partial predicate)."""
    definition = index_definition(index)
    body, _, predicate = definition.partition(" WHERE ")
    indexed = set(re.findall(r"\w+", body.split(" USING ", 1)[1])) | set(re.findall(r"\w+", predicate))
    with connection.cursor() as cursor:
        columns = [column.name for column in connection.introspection.get_table_description(cursor, table)]
    read = {column for column in columns if re.search(rf"\b{column}\b", statement)}
    return read, read - indexed
