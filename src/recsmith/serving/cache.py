"""Caches of recommendation lists, keyed by user and request, invalidated by that user's feedback.

* :class:`TTLCache` -- in-process, per worker: entries expire after ``ttl`` seconds; the oldest are
  evicted beyond ``max_entries``.
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


class TTLCache:
    backend = "memory"

    def __init__(self, ttl: float, max_entries: int, *, clock=time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def get(self, user: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            hit = self._entries.get((user, key))
            if hit is None:
                return None
            expires, value = hit
            if expires <= self._clock():
                self._drop((user, key))
                return None
            return value

    def set(self, user: str, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._entries[(user, key)] = (self._clock() + self.ttl, value)
            self._entries.move_to_end((user, key))
            self._by_user.setdefault(user, set()).add(key)
            while len(self._entries) > self.max_entries:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def invalidate_user(self, user: str) -> None:
        with self._lock:
            for key in self._by_user.pop(user, ()):
                self._entries.pop((user, key), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_user.clear()

    def _drop(self, full_key: tuple[str, str]) -> None:
        self._entries.pop(full_key, None)
        keys = self._by_user.get(full_key[0])
        if keys is not None:
            keys.discard(full_key[1])
            if not keys:
                del self._by_user[full_key[0]]

    def __len__(self) -> int:
        return len(self._entries)


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

    def _warn(self, err: Exception) -> None:
        if not self._warned:
            log(f"redis cache unavailable ({err.__class__.__name__}: {err}); serving without it")
            self._warned = True
