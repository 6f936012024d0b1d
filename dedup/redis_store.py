"""The Redis store: one index shared by many server processes through a Redis stream.

The authoritative state of the index is the ordered log of its changes (articles added and
deleted), kept in a Redis stream under a key prefix, with the index configuration beside it.
Every replica applies that log, in stream order, to its own engine; the engine is
deterministic, so all replicas hold the same index and the same clusters. A write is a
compare-and-append (one Lua script, atomic in Redis): it succeeds only if the replica has
applied every earlier change, otherwise the replica catches up and decides again. So
concurrent Adds through different replicas are serialised by Redis, and no merge is lost.
Reads catch up first, so a Check through one replica sees an Add acknowledged by another.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import redis

from dedup.config import Config
from dedup.errors import IncompatibleIndex, StoreFailure, StoreUnavailable
from dedup.storage import StaleRead

# Append payloads only if the stream's last entry is the one the caller has read up to.
_APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
if last_id ~= ARGV[1] then return redis.error_reply('STALE ' .. last_id) end
local id = last_id
for i = 2, #ARGV do id = redis.call('XADD', KEYS[1], '*', 'r', ARGV[i]) end
return id
"""
_BATCH = 1000


def _entry(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisStore:
    """A log of index changes in a Redis stream (see the module docstring)."""

    start = "0-0"
    shared = True  # other replicas append too: read before answering

    def __init__(self, url: str, config: Config, prefix: str = "dedup") -> None:
        self.url, self.prefix = url, prefix
        self._log = f"{prefix}:log"
        self._config_key = f"{prefix}:config"
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                               health_check_interval=30)
            self._append = self._redis.register_script(_APPEND)
        except ValueError as exc:
            raise StoreFailure(f"bad Redis URL {url!r}: {exc}; use redis://HOST:PORT/DB") from exc
        self._call(self._check_config, config)

    def describe(self) -> str:
        return f"{self.url} (prefix {self.prefix!r})"

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"cannot reach Redis at {self.url} ({exc}); retry when it is back") from exc
        except redis.ResponseError as exc:
            if str(exc).startswith("STALE"):
                raise StaleRead(str(exc)) from exc
            if "OOM" in str(exc):
                raise StoreUnavailable(f"Redis at {self.url} is out of memory; free memory or raise maxmemory") from exc
            if "READONLY" in str(exc):
                raise StoreFailure(f"Redis at {self.url} is a read-only replica; point --store at the primary") from exc
            raise

    def _check_config(self, config: Config) -> None:
        wanted = config.index_fields()
        self._redis.set(self._config_key, json.dumps(wanted, sort_keys=True), nx=True)
        stored = json.loads(self._redis.get(self._config_key))
        diffs = [f"{k}: stored {stored.get(k)!r}, requested {v!r}" for k, v in wanted.items() if stored.get(k) != v]
        if diffs:
            raise IncompatibleIndex(
                f"the index under Redis prefix {self.prefix!r} was built with a different configuration ("
                + "; ".join(diffs) + "); start with the stored settings or use another --redis-prefix"
            )

    def read(self, after: str = "0-0") -> Iterator[tuple[str, dict]]:
        """Changes after stream entry `after`, oldest first, with their entry ids."""
        while True:
            entries = self._call(self._redis.xrange, self._log, f"({after}", "+", _BATCH)
            for entry_id, fields in entries:
                after = entry_id.decode()
                yield after, json.loads(fields[b"r"])
            if len(entries) < _BATCH:
                return

    def replay(self) -> Iterator[dict]:
        for _, record in self.read(self.start):
            yield record

    def append(self, records: list[dict], expected: str | None = None) -> str:
        """Append atomically if nothing was appended since `expected`; return the last entry id."""
        payloads = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
        if expected is None:
            expected = self._last_id()
        try:
            result = self._call(self._append, [self._log], [expected, *payloads])
        except StaleRead as exc:
            last = str(exc).split()[-1]
            if _entry(last) < _entry(expected):
                raise StoreFailure(
                    f"the log in Redis at {self.url} ends at {last}, before this server's position {expected}: "
                    "Redis lost data (flushed, or restarted without persistence); restart this server"
                ) from exc
            raise
        return result.decode() if isinstance(result, bytes) else str(result)

    def _last_id(self) -> str:
        last = self._call(self._redis.xrevrange, self._log, "+", "-", 1)
        return last[0][0].decode() if last else "0-0"

    def close(self) -> None:
        self._redis.close()

    def destroy(self) -> None:
        """Delete this index's keys (tests and tear-down)."""
        self._call(self._redis.delete, self._log, self._config_key)
