"""What a web process does once Django is set up, before it serves (config.wsgi and config.asgi)."""

import gc

from django.urls import get_resolver


def load_and_freeze() -> None:
    """Import every view now (the URLconf) and move what start-up allocated to the cyclic collector's permanent
    generation: a full collection then walks the objects of the requests in flight, not the ~190,000 module-level
    objects of a loaded process, which took 40-125 ms of CPU each time and set the p99 of allocation-heavy endpoints
    (the 24 h metrics query: BENCHMARKS.md, issue 17)."""
    get_resolver().url_patterns  # noqa: B018  (the property imports every app's views)
    gc.collect()  # nothing start-up left unreachable stays frozen
    gc.freeze()
