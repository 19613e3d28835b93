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


def test_incr_is_one_round_trip_and_refuses_a_missing_key(redis_url, monkeypatch):
    import pytest

    cache = RedisCache(redis_url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    cache.set("version", 40)
    assert cache.incr("version") == 41  # loads the script into Redis if new there
    client = cache._cache.get_client(write=True)
    sent = []
    real = client.execute_command
    monkeypatch.setattr(
        client,
        "execute_command",
        lambda *args, **kw: sent.append(args[0]) or real(*args, **kw),
    )

    assert cache.incr("version") == 42
    assert cache.incr("version", 8) == 50
    assert sent == ["EVALSHA", "EVALSHA"]  # one round trip each
    assert cache.get("version") == 50
    with pytest.raises(ValueError, match="not found"):
        cache.incr("no-such-key")
    assert cache.get("no-such-key") is None
    cache.delete("version")


def test_any_key_is_kept_without_memcached_warnings(redis_url, recwarn):
    cache = RedisCache(redis_url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    key = "live:event with spaces:" + "x" * 300

    cache.set(key, "kept")

    assert cache.get_many([key]) == {key: "kept"}
    assert not recwarn.list
    cache.delete(key)


def test_counters_are_added_to_in_one_round_trip(redis_url, monkeypatch):
    """The buy form's limits per network (scanner.throttle.BuyAllowance)."""
    cache = RedisCache(redis_url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    assert cache.add_to_counters([("seats", 1, 60)]) == [1]  # loads the script
    client = cache._cache.get_client(write=True)
    sent = []
    real = client.execute_command
    monkeypatch.setattr(
        client,
        "execute_command",
        lambda *args, **kw: sent.append(args[0]) or real(*args, **kw),
    )

    totals = cache.add_to_counters([("seats", 4, 60), ("orders", 1, 3600)])

    assert totals == [5, 1]
    assert sent == ["EVALSHA"]
    # Each window starts with its first count, and is not pushed back later.
    assert 0 < client.ttl(cache.make_key("seats")) <= 60
    assert 3590 < client.ttl(cache.make_key("orders")) <= 3600
    # Plain integers, as the cache's own get and decr read them.
    assert cache.get("seats") == 5
    assert cache.decr("seats", 4) == 1
    cache.delete_many(["seats", "orders"])
