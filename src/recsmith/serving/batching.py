"""Dynamic micro-batching: concurrent network calls of the service run as one batch.

A sequential model's forward pass for one history costs about as much as for sixteen (the fixed
cost of the call dominates), so requests that need the network -- anonymous sessions, users with
new feedback, two-tower query towers, TIGER beam searches -- are queued to a :class:`MicroBatcher`,
whose one worker thread runs them together:

* **window**: the worker takes the oldest queued request and waits for more until ``max_batch``
  are queued or ``max_wait_s`` has passed *since that request was queued*. A request that already
  waited that long (the worker was busy) starts with whatever is queued, at once. So batching adds
  at most ``max_wait_s`` to a request's latency; under load, batches fill without any wait.
* **never on the event loop**: :meth:`MicroBatcher.run` returns an awaitable of a thread-safe
  future; the event loop goes on serving while the worker computes.
* **errors stay with their request**: if a batch fails, its requests are run one by one, so only
  the request that fails gets the error (e.g. a history the model rejects).
* **bounded**: at most ``max_queue`` requests wait; beyond that :meth:`submit` raises
  :class:`Overloaded` (503 with ``Retry-After``) at once instead of letting latency grow without bound.
* **idle**: the worker thread exits after ``idle_exit_s`` without work and is started again by the
  next request, so the batcher of a replaced engine needs no shutdown.

Thread counts: the worker runs torch with the process's intra-op threads, which the service sets
once (``ServeSettings.inference_threads``, :func:`set_inference_threads`), so the worker and the
event loop together use the cores they are given instead of oversubscribing them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from recsmith.serving.errors import ApiError

In = TypeVar("In")
Out = TypeVar("Out")


class Overloaded(ApiError):
    """The service is past what it can answer in time: it sheds the request instead of queueing it."""

    status_code = 503
    code = "overloaded"


@dataclass
class _Pending(Generic[In]):
    item: In
    future: Future
    queued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """What the worker did (read by metrics and tests)."""

    batches: int = 0
    items: int = 0
    largest: int = 0
    rejected: int = 0
    fallbacks: int = 0  # failed batches re-run item by item

    def record(self, size: int) -> None:
        self.batches += 1
        self.items += size
        self.largest = max(self.largest, size)


class MicroBatcher(Generic[In, Out]):
    """Runs ``run_batch(items) -> results`` (one result per item, in order) on a worker thread over
    the requests queued within a short window; see the module docstring."""

    def __init__(
        self,
        run_batch: Callable[[list[In]], Sequence[Out]],
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        max_queue: int = 256,
        idle_exit_s: float = 30.0,
        name: str = "recsmith-batcher",
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch and max_queue must be at least 1, max_wait_s at least 0")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.idle_exit_s = idle_exit_s
        self.name = name
        self.on_batch = on_batch  # (batch size, seconds the oldest request waited) after each batch
        self.stats = BatchStats()
        self._queue: deque[_Pending[In]] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ submitting
    def submit(self, item: In) -> Future:
        """Queue ``item``; a future of its result. :class:`Overloaded` if ``max_queue`` are waiting."""
        pending = _Pending(item, Future())
        with self._cond:
            if len(self._queue) >= self.max_queue:
                self.stats.rejected += 1
                raise Overloaded(
                    "the service is overloaded (its inference queue is full); retry shortly",
                    details={"reason": "inference_queue", "queued": len(self._queue)},
                    headers={"Retry-After": "1"},
                )
            self._queue.append(pending)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._worker.start()
            self._cond.notify()
        return pending.future

    async def run(self, item: In) -> Out:
        """The result of ``item``, awaited without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(item))

    def run_sync(self, item: In) -> Out:
        """The result of ``item``, waiting in the calling thread (never call it on the event loop)."""
        return self.submit(item).result()

    @property
    def queued(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------------ the worker
    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._execute(batch)

    def _next_batch(self) -> list[_Pending[In]] | None:
        with self._cond:
            while not self._queue:
                if not self._cond.wait(self.idle_exit_s) and not self._queue:
                    self._worker = None  # a later submit starts a new worker
                    return None
            deadline = self._queue[0].queued + self.max_wait_s
            while len(self._queue) < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]

    def _execute(self, batch: list[_Pending[In]]) -> None:
        # a waiter that went away (a client disconnected) cancelled its future: skip its work
        live = [p for p in batch if p.future.set_running_or_notify_cancel()]
        if not live:
            return
        waited = time.perf_counter() - live[0].queued
        try:
            results = self._run([p.item for p in live])
        except Exception as err:
            if len(live) == 1:
                live[0].future.set_exception(err)
            else:  # one bad request must not fail the others: run each alone
                self.stats.fallbacks += 1
                for p in live:
                    self._execute_alone(p)
        else:
            for p, result in zip(live, results):
                p.future.set_result(result)
        self.stats.record(len(live))
        if self.on_batch is not None:
            self.on_batch(len(live), waited)

    def _execute_alone(self, pending: _Pending[In]) -> None:
        try:
            pending.future.set_result(self._run([pending.item])[0])
        except Exception as err:  # handed to that request's waiter
            pending.future.set_exception(err)

    def _run(self, items: list[In]) -> list[Out]:
        results = list(self.run_batch(items))
        if len(results) != len(items):
            raise RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items")
        return results


def set_inference_threads(threads: int) -> None:
    """Intra-op threads of torch (when a loaded model uses it), of the BLAS under numpy and of FAISS.

    The service computes on a few threads at once (the event loop, the micro-batcher's worker, a
    reload); each library's own thread pool on top of them would oversubscribe the cores. FAISS's
    OpenMP count is per calling thread: the engine sets it again in the threads that search.
    """
    import sys

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    faiss = sys.modules.get("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
