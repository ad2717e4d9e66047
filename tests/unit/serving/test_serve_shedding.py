"""Load shedding: past saturation requests are answered 503 with ``Retry-After`` at once (a full
inference queue, too many requests in flight, an event loop running behind), never left to time out;
the requests that are admitted are answered, and operations endpoints stay up."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from fitting import fitted

pytest.importorskip("torch")

API_KEY = "test-key-123456"


@pytest.fixture(scope="module")
def sasrec_bundle(tmp_path_factory, tiny):
    from recsmith.serving.bundle import write_bundle

    inter, user_map, item_map, attrs = tiny
    params = {"dim": 16, "max_len": 12, "train": {"epochs": 1, "threads": 1, "tracking": {"mlflow": False}}}
    model = fitted("sasrec", params, inter)
    return write_bundle(tmp_path_factory.mktemp("shed") / "b", model, user_map, item_map, items=attrs)


def _started_app(bundle, tmp_path, **settings):
    """The app and its started service (ASGITransport runs no lifespan)."""
    from recsmith.serving.app import create_app
    from recsmith.serving.service import Service
    from recsmith.serving.settings import ServeSettings

    values = {
        "bundle": bundle,
        "state_dir": tmp_path / "state",
        "api_keys": [API_KEY],
        "environment": "test",
        "rate_limit_per_s": 0,
        **settings,
    }
    config = ServeSettings(**values)
    service = Service(config)
    service.start()
    return create_app(config, service=service), service


def _gate_network(service) -> threading.Event:
    """Block the engine's network calls until the returned event is set."""
    release = threading.Event()
    batcher = service.engine.batcher
    run = batcher.run_batch

    def gated(items):
        assert release.wait(30)
        return run(items)

    batcher.run_batch = gated
    return release


def _session(i: int) -> dict:
    return {"session_items": [f"i{i % 50}", f"i{(i + 7) % 50}"], "k": 5}


def _assert_shed(response: httpx.Response, reason: str | None = None) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    error = response.json()["error"]
    assert error["code"] == "overloaded" and "overloaded" in error["message"]
    if reason is not None:
        assert error["details"]["reason"] == reason


def test_a_full_inference_queue_sheds_with_503_and_the_admitted_requests_are_answered(sasrec_bundle, tmp_path):
    app, service = _started_app(sasrec_bundle, tmp_path, batch_max=1, queue_max=1, max_in_flight=0, max_loop_lag_ms=0)
    release = _gate_network(service)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            tasks = [asyncio.create_task(client.post("/v1/recommendations", json=_session(i))) for i in range(8)]
            await asyncio.sleep(0.5)  # the shed ones are answered while the worker is blocked
            shed_early = sum(t.done() for t in tasks)
            release.set()
            responses = await asyncio.wait_for(asyncio.gather(*tasks), 60)
            metrics = (await client.get("/metrics")).text
            return responses, shed_early, metrics

    try:
        responses, shed_early, metrics = asyncio.run(scenario())
    finally:
        release.set()
        service.close()
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}
    ok = [r for r in responses if r.status_code == 200]
    shed = [r for r in responses if r.status_code == 503]
    assert 1 <= len(ok) <= 2 and len(shed) >= 6  # one running + at most one queued
    assert shed_early >= len(shed)  # answered at once, not after the blocked batch
    for r in shed:
        _assert_shed(r, "inference_queue")
    for r in ok:
        assert len(r.json()["results"][0]["items"]) == 5
    assert 'recsmith_shed_total{reason="inference_queue"}' in metrics


def test_too_many_requests_in_flight_are_shed_but_health_answers(sasrec_bundle, tmp_path):
    app, service = _started_app(sasrec_bundle, tmp_path, max_in_flight=1, max_loop_lag_ms=0)
    release = _gate_network(service)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            blocked = asyncio.create_task(client.post("/v1/recommendations", json=_session(0)))
            while app.state.admission.in_flight < 1:
                await asyncio.sleep(0.01)
            second = await client.get("/v1/users/u1/recommendations")
            health = await client.get("/health")
            ready = await client.get("/ready")
            release.set()
            first = await asyncio.wait_for(blocked, 60)
            after = await client.get("/v1/users/u1/recommendations")
            return first, second, health, ready, after

    try:
        first, second, health, ready, after = asyncio.run(scenario())
    finally:
        release.set()
        service.close()
    _assert_shed(second, "in_flight")
    assert second.json()["error"]["details"]["in_flight"] == 1
    assert health.status_code == 200 and ready.status_code == 200
    assert first.status_code == 200 and after.status_code == 200


def test_a_lagging_event_loop_sheds_new_requests(sasrec_bundle, make_client):
    client = make_client(sasrec_bundle)
    admission = client.app.state.admission
    admission.max_lag_s = 0.25
    admission.record_lag(0.5)  # one late wake-up (one slow request): the next request is admitted
    assert client.get("/v1/users/u1/recommendations").status_code == 200
    admission.record_lag(0.5)  # late again: the loop is saturated
    try:
        _assert_shed(client.get("/v1/users/u1/recommendations"), "loop_lag")
        assert client.get("/health").status_code == 200
    finally:
        admission.record_lag(0.0)
    assert client.get("/v1/users/u1/recommendations").status_code == 200


def test_the_watcher_measures_how_far_the_loop_runs_behind(monkeypatch):
    """One stall of the loop is measured but sheds nothing; stalls at consecutive wake-ups do."""
    from recsmith.serving import admission as module

    # wake-ups 50 ms apart: the two stalls below fall between the same two, even on a busy machine
    monkeypatch.setattr(module, "WATCH_INTERVAL_S", 0.05)
    admission = module.Admission(max_in_flight=0, max_lag_s=0.1)

    async def stall() -> tuple[float, str | None]:
        time.sleep(0.4)  # a request that holds the loop
        for _ in range(20):  # the watcher's overdue timer runs at the next turns of the loop
            await asyncio.sleep(0)
        return admission.lag_s, admission.refuse()

    async def scenario() -> list[tuple[float, str | None]]:
        async with admission.watching():
            await asyncio.sleep(0.05)
            return [await stall(), await stall()]

    (once, refused_once), (again, refused_again) = asyncio.run(scenario())
    assert once >= 0.25 and again >= 0.25
    assert refused_once is None  # a single slow request does not shed the one after it
    assert refused_again == "loop_lag"
