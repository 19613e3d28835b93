"""The Redis cache backend that keeps one client per connection pool."""

import uuid

from ticketing.cache import RedisCache


def test_one_client_serves_every_call_and_the_cache_still_works(redis_url):
    cache = RedisCache(redis_url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    client = cache._cache.get_client()

    cache.set("seats", 3)
    cache.incr("seats")

    assert cache.get("seats") == 4
    assert cache._cache.get_client() is client
    assert cache._cache.get_client(write=True) is client  # one server: one pool
    cache.delete("seats")
    assert cache.get("seats") is None
