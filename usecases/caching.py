"""Hot reads through Django's cache framework (Redis when configured, local memory otherwise).

A use case's detail is cached under its unique_id; catalog-wide reads (stats, industries, tags) are cached under
a generation number that every write bumps, so one increment invalidates all of them at once. A process also keeps
the catalog-wide values of the generation it last read (for as long as the cache would): then reading one costs the
generation's round trip only, not a second one for the value (the industry filter reads its spellings per search).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.db import transaction

DETAIL_TIMEOUT = 300
AGGREGATE_TIMEOUT = 300
_GENERATION_KEY = "usecases:generation"


def detail_key(unique_id: str) -> str:
    return f"usecases:detail:{unique_id}"


def _fresh_generation() -> int:
    # Time-based, so a generation key lost to eviction never restarts at a number whose entries are still cached.
    return time.time_ns() // 1000


def _generation() -> int:
    generation = cache.get(_GENERATION_KEY)
    if generation is None:
        cache.add(_GENERATION_KEY, _fresh_generation(), timeout=None)
        generation = cache.get(_GENERATION_KEY) or _fresh_generation()
    return generation


class _Local(threading.local):
    """This thread's copies of catalog-wide values: {name: (generation, expires at (monotonic), value)}."""

    def __init__(self):
        self.values: dict[str, tuple[int, float, object]] = {}


_local = _Local()


def aggregate(name: str, compute: Callable[[], object]):
    """The catalog-wide value `name`, computed once per catalog generation.

    Callers must not change what they get: it is shared with the cache and this thread's later reads.
    """
    generation = _generation()
    kept = _local.values.get(name)
    if kept is not None and kept[0] == generation and kept[1] > time.monotonic():
        return kept[2]
    key = f"usecases:{generation}:{name}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, AGGREGATE_TIMEOUT)
    _local.values[name] = (generation, time.monotonic() + AGGREGATE_TIMEOUT, value)
    return value


def _drop(unique_ids: list[str]) -> None:
    if unique_ids:
        cache.delete_many([detail_key(uid) for uid in unique_ids])
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # not set yet (or evicted): any new number differs from the keys still cached
        cache.add(_GENERATION_KEY, _fresh_generation(), timeout=None)


def invalidate(unique_ids: Iterable[str]) -> None:
    """Drop cached reads for these use cases and the catalog-wide ones, now and again after commit.

    Now, so the writer's own next read is fresh; after commit, so a reader that re-filled the cache from the
    old committed row while the transaction was open does not leave it stale.
    """
    unique_ids = list(unique_ids)
    _drop(unique_ids)
    transaction.on_commit(lambda: _drop(unique_ids))
