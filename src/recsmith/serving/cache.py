"""Caches of recommendation lists, keyed by user and request, invalidated by that user's feedback.

* :class:`TTLCache` -- in-process, per worker: entries expire after ``ttl`` seconds (swept on time);
  the oldest are evicted beyond ``max_bytes``.
* :class:`RedisCache` -- shared by every worker (and every replica) that points at the same Redis:
  one hash per user (``recsmith:<namespace>:rec:<user>``, field = request key) with a TTL, so
  invalidating a user is one ``DEL``. A Redis that cannot be reached counts as a miss (the request
  is served from the model), never as an error.

Values are JSON-compatible dicts. The namespace is the bundle version, so a reload never serves
lists of the previous model.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from recsmith.utils.logging import log


class RecCache(Protocol):
    backend: str

    def get(self, user: str, key: str) -> dict[str, Any] | None: ...
    def set(self, user: str, key: str, value: dict[str, Any]) -> None: ...
    def invalidate_user(self, user: str) -> None: ...
    def clear(self) -> None: ...
    def sweep(self) -> None: ...


class NoCache:
    backend = "none"

    def get(self, user: str, key: str) -> dict[str, Any] | None:
        return None

    def set(self, user: str, key: str, value: dict[str, Any]) -> None:
        pass

    def invalidate_user(self, user: str) -> None:
        pass

    def clear(self) -> None:
        pass

    def sweep(self) -> None:
        pass


class TTLCache:
    """In-process lists, bounded by bytes and by time.

    A list is stored as its compact JSON (about 60 bytes an item; a dict of Python objects would be
    four times that), so its cost is known: the JSON plus :data:`ENTRY_OVERHEAD` for the keys and the
    bookkeeping. Beyond ``max_bytes`` the least recently written lists go first. Every entry has the
    same lifetime, so the write order is also the expiry order: expired entries are dropped from the
    front on every write and by :meth:`sweep` (the service calls it on a timer), not only when read.
    """

    backend = "memory"

    def __init__(self, ttl: float, max_bytes: int, *, clock=time.monotonic) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self.nbytes = 0

    def get(self, user: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            hit = self._entries.get((user, key))
            if hit is None:
                return None
            expires, blob = hit
            if expires <= self._clock():
                self._drop((user, key))
                return None
        return json.loads(blob)

    def set(self, user: str, key: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, separators=(",", ":")).encode()
        size = _entry_size(user, key, blob)
        if size > self.max_bytes:
            return
        with self._lock:
            self._drop((user, key))
            self._entries[(user, key)] = (self._clock() + self.ttl, blob)
            self._by_user.setdefault(user, set()).add(key)
            self.nbytes += size
            self._sweep_expired()
            while self.nbytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def sweep(self) -> None:
        with self._lock:
            self._sweep_expired()

    def invalidate_user(self, user: str) -> None:
        with self._lock:
            for key in list(self._by_user.get(user, ())):
                self._drop((user, key))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_user.clear()
            self.nbytes = 0

    def _sweep_expired(self) -> None:
        now = self._clock()
        while self._entries:
            full_key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                return
            self._drop(full_key)

    def _drop(self, full_key: tuple[str, str]) -> None:
        hit = self._entries.pop(full_key, None)
        if hit is None:
            return
        self.nbytes -= _entry_size(full_key[0], full_key[1], hit[1])
        keys = self._by_user.get(full_key[0])
        if keys is not None:
            keys.discard(full_key[1])
            if not keys:
                del self._by_user[full_key[0]]

    def __len__(self) -> int:
        return len(self._entries)


# Python objects around one entry's JSON: the key tuple and its two strings' headers, the bytes
# header, the OrderedDict's slot and link, the per-user set. Measured with tracemalloc on CPython
# 3.11 (10-item lists): about 590 bytes when each user has one list, 380 with four; rounded up.
ENTRY_OVERHEAD = 640


def _entry_size(user: str, key: str, blob: bytes) -> int:
    return len(blob) + len(user) + len(key) + ENTRY_OVERHEAD


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, ttl: float, namespace: str, *, client: Any = None) -> None:
        import redis

        self.ttl = max(1, round(ttl))
        self.namespace = namespace
        self.client = client or redis.Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.2)
        self._warned = False

    def _key(self, user: str) -> str:
        return f"recsmith:{self.namespace}:rec:{user}"

    def get(self, user: str, key: str) -> dict[str, Any] | None:
        try:
            raw = self.client.hget(self._key(user), key)
        except Exception as err:
            self._warn(err)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, user: str, key: str, value: dict[str, Any]) -> None:
        try:
            pipe = self.client.pipeline()
            pipe.hset(self._key(user), key, json.dumps(value))
            pipe.expire(self._key(user), self.ttl)
            pipe.execute()
        except Exception as err:
            self._warn(err)

    def invalidate_user(self, user: str) -> None:
        try:
            self.client.delete(self._key(user))
        except Exception as err:
            self._warn(err)

    def clear(self) -> None:
        try:
            for key in self.client.scan_iter(match=f"recsmith:{self.namespace}:rec:*", count=1000):
                self.client.delete(key)
        except Exception as err:
            self._warn(err)

    def sweep(self) -> None:
        """Redis expires keys itself."""

    def _warn(self, err: Exception) -> None:
        if not self._warned:
            log(f"redis cache unavailable ({err.__class__.__name__}: {err}); serving without it")
            self._warned = True
