"""The audit trail as CSV, streamed (shared by the API and the console)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from audit.api.serializers import CSV_FIELDS


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(event, name: str):
    if name == "actor":
        return event.actor_username
    value = getattr(event, name)
    if name == "changes":
        return json.dumps(value, sort_keys=True)
    if name == "at":
        return value.isoformat()
    return "" if value is None else value


def _rows(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_FIELDS)
    for event in queryset.iterator(chunk_size=2000):
        yield writer.writerow([_cell(event, name) for name in CSV_FIELDS])


def audit_csv_response(queryset, *, filename: str = "audit.csv") -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
