"""A JSON renderer for large answers: the same bytes as DRF's JSONRenderer, written by orjson.

DRF's renderer spends most of a large answer's time in the standard library's encoder (3.5 ms of the 24 h metrics
query's 185 kB against 0.4 ms with orjson, BENCHMARKS.md, issue 17). Datetimes, decimals and anything orjson does not
write as DRF would go through DRF's own encoder (`default`), so the bytes do not change; an indented answer asked for
in the Accept header is left to DRF."""

from __future__ import annotations

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_ENCODER = JSONEncoder()


def _default(value):
    return _ENCODER.default(value)


class FastJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
