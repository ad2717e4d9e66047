"""Several workers: a shared feedback log and Redis cache; reloads followed through the pointer file."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from recsmith.serving.engine import Engine, RuleSpec
from recsmith.serving.feedback import Event
from recsmith.serving.service import Service
from recsmith.serving.settings import ServeSettings


def _settings(tmp_path, bundle, **kw):
    return ServeSettings(bundle=bundle, state_dir=tmp_path / "state", api_keys=["k" * 12], environment="test", **kw)


def _top(service: Service, user: str, k: int = 5) -> list[str]:
    res = service.recommend_user(service.engine, user, k, exclude_seen=True, rules=RuleSpec())
    return [it["item_id"] for it in res["items"]]


def test_feedback_sent_to_one_worker_shows_in_the_other(tmp_path, bundles):
    a, b = (Service(_settings(tmp_path, bundles["itemknn"])) for _ in range(2))
    a.start()
    b.start()
    before_b = _top(b, "u4")
    a.submit_feedback([Event("u4", before_b[0], "purchase", 1)])
    after_b = _top(b, "u4")  # b reads the shared log before answering (and drops its cached list)
    assert before_b[0] not in after_b
    # a fresh worker replays the whole log at start
    c = Service(_settings(tmp_path, bundles["itemknn"]))
    c.start()
    assert c.online.get("u4")[1] == [before_b[0]]
    for s in (a, b, c):
        s.close()


def test_reload_on_one_worker_is_followed_by_the_other(tmp_path, bundles, monkeypatch):
    monkeypatch.setattr("recsmith.serving.service._POINTER_CHECK_S", 0.0)
    a, b = (Service(_settings(tmp_path, bundles["itemknn"])) for _ in range(2))
    a.start()
    b.start()
    a.reload(bundles["als"])
    deadline = time.monotonic() + 10
    while b.engine.version != "als-v1" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.engine.version == "als-v1"
    # a worker (re)started with the same configured bundle comes up on the reloaded one
    c = Service(_settings(tmp_path, bundles["itemknn"]))
    c.start()
    assert c.engine.version == "als-v1"
    # ... but one started with another bundle keeps the operator's choice
    d = Service(_settings(tmp_path, bundles["popular"]))
    d.start()
    assert d.engine.version == "popular-v1"
    for s in (a, b, c, d):
        s.close()


def test_engine_is_swapped_not_mutated(tmp_path, bundles):
    old = Engine.from_path(str(bundles["itemknn"]))
    service = Service(ServeSettings(api_keys=["k" * 12], state_dir=tmp_path), engine=old)
    held = service.engine  # what a request in flight holds
    service.reload(bundles["als"])
    assert held is old and held.version == "itemknn-v1" and service.engine.version == "als-v1"
    assert held.recommend("u1", 3)["model_version"] == "itemknn-v1"


# ---------------------------------------------------------------------- redis
@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; scripts/ci-system-deps.sh)")
    pytest.importorskip("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.skip("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_redis_cache_shared_and_invalidated_by_feedback(tmp_path, bundles, redis_url):
    import redis

    a, b = (Service(_settings(tmp_path, bundles["itemknn"], redis_url=redis_url)) for _ in range(2))
    a.start()
    b.start()
    assert a.cache.backend == "redis"
    first = a.recommend_user(a.engine, "u6", 5, exclude_seen=True, rules=RuleSpec())
    assert first["cached"] is False
    second = b.recommend_user(b.engine, "u6", 5, exclude_seen=True, rules=RuleSpec())
    assert second["cached"] is True and second["items"] == first["items"]  # b hits a's entry
    keys = redis.Redis.from_url(redis_url).keys("recsmith:itemknn-v1:rec:*")
    assert keys == [b"recsmith:itemknn-v1:rec:u6"]
    top = first["items"][0]["item_id"]
    a.submit_feedback([Event("u6", top, "click", 1)])
    third = b.recommend_user(b.engine, "u6", 5, exclude_seen=True, rules=RuleSpec())
    assert third["cached"] is False and top not in [it["item_id"] for it in third["items"]]
    a.close()
    b.close()


def test_redis_down_is_a_miss_not_an_error(tmp_path, bundles):
    s = Service(_settings(tmp_path, bundles["itemknn"], redis_url="redis://127.0.0.1:1/0"))
    s.start()
    res = s.recommend_user(s.engine, "u1", 3, exclude_seen=True, rules=RuleSpec())
    assert len(res["items"]) == 3 and res["cached"] is False
    s.close()


def test_start_falls_back_to_configured_bundle_when_reloaded_one_is_gone(tmp_path, bundles):
    import shutil

    a = Service(_settings(tmp_path, bundles["itemknn"]))
    a.start()
    gone = tmp_path / "gone"
    shutil.copytree(bundles["als"], gone)
    a.reload(gone)
    shutil.rmtree(gone)
    b = Service(_settings(tmp_path, bundles["itemknn"]))
    b.start()
    assert b.ready and b.engine.version == "itemknn-v1"
    a.close()
    b.close()
