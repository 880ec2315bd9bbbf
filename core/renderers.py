"""A JSON renderer for large answers: the same bytes as DRF's JSONRenderer, written by orjson.

DRF's renderer spends most of a large answer's time in the standard library's encoder (3.5 ms of the 24 h metrics
query's 185 kB against 0.4 ms with orjson, BENCHMARKS.md, issue 17). Datetimes, decimals and anything orjson does not
write as DRF would go through DRF's own encoder (`default`), so the bytes do not change; an indented answer asked for
in the Accept header is left to DRF.

RenderedJSONRenderer passes on a body some other code already wrote as JSON bytes (RenderedJSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_ENCODER = JSONEncoder()


def _default(value):
    return _ENCODER.default(value)


class FastJSONRenderer(JSONRenderer):
    def writes_fragments(self, accepted_media_type: str | None) -> bool:
        """Whether this answer is written by orjson, which writes `orjson.Fragment`s (pre-serialized JSON) as they
        are; an indented answer is DRF's encoder's, which does not know them."""
        return self.get_indent(accepted_media_type or "", {}) is None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


class RenderedJSON(Mapping):
    """A response body already written as JSON bytes (the catalog's search page, usecases.api.rendering): the
    renderer passes it on as it is. Read as a mapping (tests, the browsable API) it is the parsed object."""

    def __init__(self, content: bytes):
        self.content = content

    @cached_property
    def _parsed(self) -> dict:
        return json.loads(self.content)

    def __getitem__(self, key):
        return self._parsed[key]

    def __iter__(self):
        return iter(self._parsed)

    def __len__(self):
        return len(self._parsed)


class RenderedJSONRenderer(JSONRenderer):
    """DRF's JSONRenderer, but a RenderedJSON body goes out as its bytes (indented answers are written again)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, RenderedJSON):
            if self.get_indent(accepted_media_type, renderer_context or {}) is None:
                return data.content
            data = data._parsed
        return super().render(data, accepted_media_type, renderer_context)
