"""Load shedding: past saturation the service answers 503 + ``Retry-After`` at once, instead of
queueing requests until every one of them times out.

An open-loop client (users) keeps sending at its rate whatever the server's speed; a server that
accepts everything then answers later and later, until all answers come after the client gave up.
Three bounds keep the requests it does accept fast:

* **in flight**: at most ``max_in_flight`` requests inside the service at once (those waiting for
  the network included);
* **event-loop lag**: a watcher wakes every 10 ms and measures how late it woke. Requests that run
  on the event loop (a known user's list) queue as ready tasks, invisible to a counter; their wait is
  that lag. While the latest wake-up and another of the last four were later than
  ``max_loop_lag_s``, new requests are shed (the idea of Fastify's ``under-pressure`` and its
  ``maxEventLoopDelay``). A saturated loop is late again and again, while one slow request makes a
  single late wake-up, and the request right behind it must not pay for it (with the last two
  wake-ups both required instead, a saturated loop's lag, which swings from one wake-up to the
  next, shed half as much and timed out 6x more). The bound is low (100 ms by default) because past
  saturation most of the wait is not on the loop at all: connections queue in the kernel until the
  loop accepts them, where nothing can shed them (SASRec known users at 800 requests/s on 2 cores:
  with a 500 ms bound nothing was shed and 1,612 of 8,000 requests timed out; docs/performance.md);
* **inference queue**: the micro-batcher holds at most ``queue_max`` network requests
  (:class:`~recsmith.serving.batching.Overloaded`, raised by the engine, answered the same way).

A shed request costs the parsing of its headers and a short JSON answer: far less than the work it
would have needed, so the service recovers. Only ``/v1`` routes are shed, never ``/health``,
``/ready``, ``/metrics`` or the admin reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse

from recsmith.serving.batching import Overloaded
from recsmith.serving.metrics import Metrics

WATCH_INTERVAL_S = 0.01
#: shed while the latest wake-up and at least one other of the last LAG_WINDOW were late
LAG_WINDOW, LATE_TO_SHED = 4, 2
RETRY_AFTER_S = 1


class Admission:
    """The bounds of the module docstring; a limit of 0 turns it off."""

    def __init__(self, max_in_flight: int, max_lag_s: float) -> None:
        self.max_in_flight = max_in_flight
        self.max_lag_s = max_lag_s
        self.in_flight = 0
        self.lag_s = 0.0  # the latest wake-up's lag
        self._late: deque[bool] = deque([False] * LAG_WINDOW, maxlen=LAG_WINDOW)  # recent wake-ups over the bound

    def refuse(self) -> str | None:
        """Why a new request is shed now (``in_flight`` / ``loop_lag``), or None to admit it."""
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            return "in_flight"
        if self.max_lag_s and self._late[-1] and sum(self._late) >= LATE_TO_SHED:
            return "loop_lag"
        return None

    def record_lag(self, lag_s: float) -> None:
        """One wake-up's lag (the watcher calls this)."""
        self.lag_s = lag_s
        self._late.append(lag_s > self.max_lag_s)

    async def watch(self) -> None:
        """Measure the event loop's lag until cancelled (started by the app's lifespan)."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(WATCH_INTERVAL_S)
            self.record_lag(max(0.0, loop.time() - start - WATCH_INTERVAL_S))

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.watch()) if self.max_lag_s else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def overloaded_response(reason: str, detail: Any = None) -> JSONResponse:
    body = {
        "error": {
            "code": Overloaded.code,
            "message": "the service is overloaded; retry after the time in Retry-After",
            "details": {"reason": reason, **(detail or {})},
        }
    }
    return JSONResponse(body, status_code=Overloaded.status_code, headers={"Retry-After": str(RETRY_AFTER_S)})


class AdmissionMiddleware:
    """Pure ASGI middleware: sheds ``/v1`` requests the :class:`Admission` refuses, counts the rest."""

    def __init__(self, app: Any, admission: Admission, metrics: Metrics) -> None:
        self.app = app
        self.admission = admission
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/v1/") or path.startswith("/v1/admin/"):
            await self.app(scope, receive, send)
            return
        admission = self.admission
        reason = admission.refuse()
        if reason is not None:
            self.metrics.shed.labels(reason=reason).inc()
            detail = {"in_flight": admission.in_flight, "loop_lag_ms": round(admission.lag_s * 1000, 1)}
            await overloaded_response(reason, detail)(scope, receive, send)
            return
        admission.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            admission.in_flight -= 1
