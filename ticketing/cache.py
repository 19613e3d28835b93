"""Django's Redis cache, minus a client object per call and a round trip per incr.

`RedisCacheClient.get_client` builds a new `redis.Redis` for every cache
operation, and building one fills a table of ~150 response callbacks: about
a third of the CPU of a cache hit. A Redis client over a connection pool is
safe to share between threads, so one per pool is kept instead.

`incr` asked Redis whether the key exists, then incremented it: two round
trips, and every hold and sale bumps the catalogue version this way. One
script does both in one, with the same answer (ValueError for a missing key).

Every key was also checked, a character at a time in Python, for what
memcached would refuse (warnings only): 21 K instructions a key, 2 % of a
sold-out refusal, for a limit Redis does not have.

`add_to_counters` adds to several counters, each starting its expiry with
its first count, in one round trip: the buy form's limits per network
(scanner.throttle.BuyAllowance) took six (add, exists, incr per counter),
about 16 % of a checkout's instructions.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}
        self._incr_scripts: dict[int, object] = {}
        self._counter_scripts: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(index))
            self._clients[index] = client
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:
            script = self._incr_scripts[id(client)] = client.register_script(
                _INCR_IF_EXISTS
            )
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def add_to_counters(self, keys, amounts, windows) -> list[int]:
        client = self.get_client(write=True)
        script = self._counter_scripts.get(id(client))
        if script is None:
            script = self._counter_scripts[id(client)] = client.register_script(
                _ADD_TO_COUNTERS
            )
        args = [value for pair in zip(amounts, windows, strict=True) for value in pair]
        return [int(total) for total in script(keys=keys, args=args)]


# INCRBY a key that exists; nil (None) for one that does not.
_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


# INCRBY each key; one with no expiry yet (new) expires in its window.
_ADD_TO_COUNTERS = """
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCRBY', key, ARGV[2 * i - 1])
  if redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, ARGV[2 * i])
  end
end
return totals
"""


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedRedisCacheClient

    def validate_key(self, key) -> None:
        """Any key will do: the memcached portability warnings are left out."""

    def add_to_counters(
        self, counts: list[tuple[str, int, int]], version=None
    ) -> list[int]:
        """Add each (key, amount, window) to its counter, a new counter
        expiring `window` seconds after its first count; the totals. One
        round trip however many counters (scanner.throttle)."""
        keys = [
            self.make_and_validate_key(key, version=version) for key, _, _ in counts
        ]
        return self._cache.add_to_counters(
            keys,
            [amount for _, amount, _ in counts],
            [window for _, _, window in counts],
        )
