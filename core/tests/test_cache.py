"""core.cache.RedisCache: Django's Redis backend, one redis-py client per server instead of one per operation."""

import pytest
from django.conf import settings
from django.core.cache import cache, caches

from core.cache import RedisCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis backend needs REDIS_URL")


def test_the_default_cache_is_the_reusing_backend():
    assert isinstance(caches["default"], RedisCache)


def test_operations_share_one_client_and_still_read_what_they_wrote():
    backend = cache._cache
    cache.set("core-cache-test", {"n": 1}, 30)
    first = backend.get_client(write=True)
    assert cache.get("core-cache-test") == {"n": 1}
    cache.delete("core-cache-counter")
    assert cache.add("core-cache-counter", 1, 30)
    assert cache.incr("core-cache-counter") == 2
    assert backend.get_client() is first is backend.get_client(write=True)
    assert first.connection_pool is backend._pools[0]
    cache.delete_many(["core-cache-test", "core-cache-counter"])
    assert cache.get("core-cache-test") is None
