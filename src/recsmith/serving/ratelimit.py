"""Per-client rate limiting: a token bucket per API key (or per client address without one).

A client may send ``burst`` requests at once and ``rate`` per second sustained; beyond that it gets
429 with ``Retry-After`` (whole seconds until a token is back). Buckets live in the worker process:
with N workers behind one address the sustained limit is up to N times ``rate`` (put a shared
limiter in the load balancer when that matters).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

_MAX_CLIENTS = 100_000  # buckets kept; the least recently seen are dropped (they refill anyway)


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, stamp)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, client: str) -> float | None:
        """Take a token for ``client``: None if allowed, else seconds until one is available."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
