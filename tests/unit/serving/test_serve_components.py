"""Settings, rate limiter, TTL cache, feedback log, rules: the parts under the routes."""

from __future__ import annotations

import sqlite3

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from recsmith.serving.cache import ENTRY_OVERHEAD, TTLCache
from recsmith.serving.errors import InvalidRequest
from recsmith.serving.feedback import Event, FeedbackLog
from recsmith.serving.ratelimit import RateLimiter
from recsmith.serving.rules import ItemRules, eligible_mask
from recsmith.serving.settings import DEFAULT_API_KEY, ServeSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------- settings
def test_default_key_refused_outside_development(monkeypatch):
    assert ServeSettings(environment="development").api_keys[0].get_secret_value() == DEFAULT_API_KEY
    for env in ("production", "test"):
        with pytest.raises(ValidationError, match="not allowed"):
            ServeSettings(environment=env)
    monkeypatch.setenv("RECSMITH_ENVIRONMENT", "production")
    monkeypatch.setenv("RECSMITH_API_KEYS", "first-secret-1, second-secret-2")
    monkeypatch.setenv("RECSMITH_MAX_K", "50")
    s = ServeSettings()
    assert [k.get_secret_value() for k in s.api_keys] == ["first-secret-1", "second-secret-2"]
    assert s.max_k == 50 and "first-secret" not in repr(s)
    with pytest.raises(ValidationError, match="at least 8"):
        ServeSettings(api_keys=["short"])


# ---------------------------------------------------------------------- rate limiter
def test_token_bucket():
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(0.5)
    assert limiter.acquire("b") is None  # per client
    clock.now += 0.5
    assert limiter.acquire("a") is None and limiter.acquire("a") is not None
    assert RateLimiter(rate=0, burst=1).acquire("x") is None  # off


# ---------------------------------------------------------------------- cache
def test_ttl_cache_expiry_eviction_invalidation():
    clock = FakeClock()
    cache = TTLCache(ttl=10, max_bytes=3 * (ENTRY_OVERHEAD + 12), clock=clock)  # three of these entries
    cache.set("u1", "k10", {"v": 1})
    cache.set("u1", "k5", {"v": 2})
    cache.set("u2", "k10", {"v": 3})
    assert cache.get("u1", "k10") == {"v": 1}
    cache.invalidate_user("u1")
    assert cache.get("u1", "k10") is None and cache.get("u1", "k5") is None and cache.get("u2", "k10") == {"v": 3}
    clock.now += 11
    assert cache.get("u2", "k10") is None
    for i in range(5):
        cache.set(f"x{i}", "k", {"v": i})
    assert len(cache) == 3 and cache.get("x0", "k") is None and cache.get("x4", "k") == {"v": 4}
    assert cache.nbytes <= cache.max_bytes


# ---------------------------------------------------------------------- feedback log
def test_feedback_log_is_wal_and_append_only(tmp_path):
    log = FeedbackLog(tmp_path / "fb.sqlite3")
    ids = log.append([Event("u1", "i1", "click", 1), Event("u2", "i2", "view", 2, 0.5)])
    assert ids == [1, 2]
    assert log.append([Event("u1", "i3", "purchase", 3)]) == [3]
    assert [(e.id, e.user_id, e.item_id) for e in log.read_since(1)] == [(2, "u2", "i2"), (3, "u1", "i3")]
    other = FeedbackLog(tmp_path / "fb.sqlite3")  # another worker on the same file
    assert other.append([Event("u9", "i9", "like", 4)]) == [4]
    assert log.read_since(3)[0].user_id == "u9" and log.count() == 4
    conn = sqlite3.connect(tmp_path / "fb.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    log.close()
    other.close()


def test_feedback_batch_is_atomic(tmp_path):
    log = FeedbackLog(tmp_path / "fb.sqlite3")
    with pytest.raises(sqlite3.IntegrityError):
        log.append([Event("u1", "i1", "click", 1), Event("u1", None, "click", 2)])  # type: ignore[arg-type]
    assert log.count() == 0


# ---------------------------------------------------------------------- rules
def test_item_rules_ops():
    items = pl.DataFrame(
        {
            "item": pl.Series([0, 1, 2, 3], dtype=pl.Int32),
            "cat": ["a", "b", None, "a"],
            "price": [1.0, 5.0, 9.0, None],
            "tags": [["x"], ["x", "y"], [], None],
        }
    )
    rules = ItemRules(items, n_items=5)  # item 4 has no row: fails every filter

    def m(*filters):
        return np.flatnonzero(rules.filter_mask(list(filters))).tolist()

    assert m({"field": "cat", "op": "eq", "value": "a"}) == [0, 3]
    assert m({"field": "cat", "op": "ne", "value": "a"}) == [1]
    assert m({"field": "cat", "op": "not_in", "value": ["b"]}) == [0, 3]
    assert m({"field": "price", "op": "gte", "value": 5}) == [1, 2]
    assert m({"field": "price", "op": "between", "value": [0, 5]}) == [0, 1]
    assert m({"field": "tags", "op": "eq", "value": "y"}) == [1]
    assert m({"field": "tags", "op": "in", "value": ["x", "z"]}) == [0, 1]
    assert m({"field": "cat", "op": "eq", "value": "a"}, {"field": "price", "op": "lt", "value": 3}) == [0]
    assert rules.filter_mask([]) is None
    with pytest.raises(InvalidRequest, match="unknown filter field"):
        m({"field": "colour", "op": "eq", "value": 1})
    with pytest.raises(InvalidRequest, match="does not apply to a list"):
        m({"field": "tags", "op": "gt", "value": 1})
    with pytest.raises(InvalidRequest):
        m({"field": "price", "op": "gt", "value": "cheap"})
    with pytest.raises(InvalidRequest, match="no item attributes"):
        ItemRules(None, 3).filter_mask([{"field": "a", "op": "eq", "value": 1}])


def test_eligible_mask():
    f = np.array([True, True, False, True])
    assert eligible_mask(4) is None
    assert eligible_mask(4, filter_mask=f, exclude=np.array([0])).tolist() == [False, True, False, True]
    assert eligible_mask(4, filter_mask=f, include=np.array([1, 2])).tolist() == [False, True, False, False]
