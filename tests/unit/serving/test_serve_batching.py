"""The micro-batcher: batched results equal unbatched ones, the added latency is bounded, one bad
request does not fail the others, the queue is bounded, and the event loop keeps running.

No test here times the batcher's speed (benchmarks do): the latency checks are bounds a broken
batcher would miss by seconds (it would hold a lone request for a full batch, or delay requests that
already waited), with slack for a busy machine.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from recsmith.serving.batching import MicroBatcher, Overloaded

#: slack for a machine shared with other jobs: a thread may wait this long for a core
SLACK_S = 3.0


def _squares(items: list[int]) -> list[int]:
    return [x * x for x in items]


class Gate:
    """A batch function that records its batches and blocks the first one until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return _squares(items)


def test_results_match_their_requests():
    batcher = MicroBatcher(_squares, max_batch=8, max_wait_s=0.001)
    futures = [batcher.submit(x) for x in range(50)]
    assert [f.result(timeout=10) for f in futures] == [x * x for x in range(50)]


def test_requests_arriving_while_the_worker_is_busy_run_as_one_batch():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=16, max_wait_s=0.001)
    first = batcher.submit(1)
    assert gate.entered.wait(10)
    waiting = [batcher.submit(x) for x in range(2, 12)]  # ten requests queue behind the busy worker
    gate.release.set()
    assert first.result(timeout=10) == 1
    assert [f.result(timeout=10) for f in waiting] == [x * x for x in range(2, 12)]
    assert gate.batches == [[1], list(range(2, 12))]
    assert batcher.stats.largest == 10


def test_batches_never_exceed_max_batch():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=4, max_wait_s=0.0)
    batcher.submit(0)
    assert gate.entered.wait(10)
    futures = [batcher.submit(x) for x in range(1, 11)]
    gate.release.set()
    for f in futures:
        f.result(timeout=10)
    assert [len(b) for b in gate.batches] == [1, 4, 4, 2]


def test_a_lone_request_waits_for_companions_at_most_max_wait():
    """The window is ``max_wait_s`` from the request's arrival: a lone request runs after it, not
    after a full batch (here: never)."""
    batcher = MicroBatcher(_squares, max_batch=64, max_wait_s=0.2)
    start = time.perf_counter()
    assert batcher.submit(3).result(timeout=10) == 9
    elapsed = time.perf_counter() - start
    assert 0.19 <= elapsed < 0.2 + SLACK_S


def test_a_full_batch_does_not_wait_for_the_window():
    batcher = MicroBatcher(_squares, max_batch=4, max_wait_s=30.0)
    start = time.perf_counter()
    futures = [batcher.submit(x) for x in range(4)]
    assert [f.result(timeout=10) for f in futures] == [0, 1, 4, 9]
    assert time.perf_counter() - start < SLACK_S  # far below the 30 s window


def test_requests_that_already_waited_the_window_are_not_held_longer():
    """While the worker was busy the queued requests waited more than ``max_wait_s``: the next batch
    starts at once instead of opening a new window for them."""
    gate = Gate()
    seen: list[float] = []
    batcher = MicroBatcher(gate, max_batch=64, max_wait_s=1.0, on_batch=lambda size, waited: seen.append(waited))
    batcher.submit(0)
    assert gate.entered.wait(10)
    queued = [batcher.submit(x) for x in (1, 2, 3)]
    time.sleep(1.2)  # longer than the window
    released = time.perf_counter()
    gate.release.set()
    for f in queued:
        f.result(timeout=10)
    assert time.perf_counter() - released < 1.0  # no second window of 1 s
    assert gate.batches[1] == [1, 2, 3]


def test_a_failing_request_fails_alone():
    def picky(items: list[int]) -> list[int]:
        if any(x < 0 for x in items):
            raise ValueError("negative")
        return _squares(items)

    gate_release = threading.Event()
    calls: list[list[int]] = []

    def blocking_first(items: list[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            gate_release.wait(10)
        return picky(items)

    batcher = MicroBatcher(blocking_first, max_batch=8, max_wait_s=0.0)
    batcher.submit(0)
    futures = {x: batcher.submit(x) for x in (2, -1, 3)}
    gate_release.set()
    assert futures[2].result(timeout=10) == 4 and futures[3].result(timeout=10) == 9
    with pytest.raises(ValueError, match="negative"):
        futures[-1].result(timeout=10)
    assert batcher.stats.fallbacks == 1
    assert batcher.submit(5).result(timeout=10) == 25  # the worker lives on


def test_a_result_count_mismatch_is_an_error_not_a_wrong_answer():
    batcher = MicroBatcher(lambda items: items[1:], max_batch=8, max_wait_s=0.05)
    futures = [batcher.submit(x) for x in range(3)]
    for f in futures:
        with pytest.raises(RuntimeError, match="results for"):
            f.result(timeout=10)


def test_the_queue_is_bounded():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=1, max_wait_s=0.0, max_queue=2)
    batcher.submit(0)
    assert gate.entered.wait(10)
    queued = [batcher.submit(1), batcher.submit(2)]
    with pytest.raises(Overloaded) as err:
        batcher.submit(3)
    assert err.value.status_code == 503 and err.value.headers["Retry-After"] == "1"
    assert batcher.stats.rejected == 1
    gate.release.set()
    assert [f.result(timeout=10) for f in queued] == [1, 4]


def test_cancelled_requests_are_skipped():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=8, max_wait_s=0.0)
    batcher.submit(0)
    assert gate.entered.wait(10)
    gone, kept = batcher.submit(7), batcher.submit(8)
    assert gone.cancel()  # its client went away
    gate.release.set()
    assert kept.result(timeout=10) == 64
    assert gate.batches[1] == [8]


def test_the_worker_exits_when_idle_and_restarts():
    batcher = MicroBatcher(_squares, max_batch=4, max_wait_s=0.0, idle_exit_s=0.05)
    assert batcher.submit(2).result(timeout=10) == 4
    deadline = time.monotonic() + 10
    while batcher._worker is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher._worker is None
    assert batcher.submit(3).result(timeout=10) == 9


def test_awaiting_a_batch_does_not_block_the_event_loop():
    def slow(items: list[int]) -> list[int]:
        time.sleep(0.3)
        return _squares(items)

    batcher = MicroBatcher(slow, max_batch=8, max_wait_s=0.0)

    async def main() -> tuple[list[int], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(batcher.run(x) for x in range(5)))
        task.cancel()
        return list(results), ticks

    results, ticks = asyncio.run(main())
    assert results == [0, 1, 4, 9, 16]
    assert ticks >= 5  # the loop ran on while the worker computed


def test_batched_network_results_equal_unbatched(tiny):
    """A real network: query vectors of sessions batched together equal those computed one by one
    (within the float tolerance of another batch shape: SERVED_RTOL of the largest |component|)."""
    pytest.importorskip("torch")
    from fitting import fitted
    from recsmith.serving.online import History, QueryScorer

    inter, *_ = tiny
    params = {
        "dim": 16,
        "max_len": 12,
        "dropout": 0.0,
        "train": {"epochs": 1, "threads": 1, "tracking": {"mlflow": False}},
    }
    model = fitted("sasrec", params, inter)
    scorer = QueryScorer(model, None)
    rng = np.random.default_rng(0)
    inputs = [History(rng.integers(0, inter.n_items, size=int(n)), -1) for n in rng.integers(1, 20, size=24)]
    alone = np.stack([scorer.run_network([h])[0].query for h in inputs])
    batcher = MicroBatcher(scorer.run_network, max_batch=32, max_wait_s=0.05)
    futures = [batcher.submit(h) for h in inputs]
    batched = np.stack([f.result(timeout=30).query for f in futures])
    assert batcher.stats.largest > 1
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5 * float(np.abs(alone).max()))


def test_inference_threads_are_set_for_torch_blas_and_faiss(threads_restored):
    """A worker on 2 cores runs the loop and the batcher's thread: each library's own pool must not
    add more threads on top (``ServeSettings.inference_threads``)."""
    import faiss
    import torch
    from threadpoolctl import threadpool_info

    from recsmith.serving.batching import set_inference_threads

    set_inference_threads(1)
    assert torch.get_num_threads() == 1
    assert faiss.omp_get_max_threads() == 1
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)


@pytest.fixture
def threads_restored():
    torch = pytest.importorskip("torch")
    import faiss
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    with threadpool_limits(limits=None):
        yield
    torch.set_num_threads(before[0])
    faiss.omp_set_num_threads(before[1])
