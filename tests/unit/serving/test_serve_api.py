"""Every endpoint through create_app(settings) + TestClient on tiny fitted bundles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsmith.serving.bundle import Bundle


def _items(resp) -> list[str]:
    return [it["item_id"] for it in resp.json()["items"]]


def _seen(bundle_path, user: str) -> set[str]:
    b = Bundle.load(bundle_path)
    u = int(b.user_map.to_internal([user])[0])
    row = b.model.seen[u]
    return set(b.item_map.to_external(row.indices))


# ---------------------------------------------------------------------- operations
def test_health_ready_openapi(bundles, make_client):
    c = make_client(bundles["itemknn"])
    assert c.get("/health").json() == {"status": "ok"}
    ready = c.get("/ready")
    assert ready.status_code == 200 and ready.json()["model_version"] == "itemknn-v1"
    paths = c.get("/openapi.json").json()["paths"]
    for p in (
        "/v1/users/{user_id}/recommendations",
        "/v1/recommendations",
        "/v1/items/{item_id}/similar",
        "/v1/search",
        "/v1/feedback",
        "/v1/model",
        "/v1/admin/reload",
        "/health",
        "/ready",
        "/metrics",
    ):
        assert p in paths, p


def test_not_ready_without_bundle(tmp_path, make_client):
    c = make_client(None)
    r = c.get("/ready")
    assert r.status_code == 503 and r.json()["ready"] is False
    r = c.get("/v1/users/u1/recommendations")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready" and "Retry-After" in r.headers


def test_model_info(bundles, make_client):
    info = make_client(bundles["als"]).get("/v1/model").json()
    assert info["version"] == "als-v1" and info["model"] == "als"
    assert info["n_items"] == 60 and info["metrics"]["test"]["ndcg@10"] == 0.5
    assert info["index"]["factory"] == "Flat" and info["index"]["metric"] == "ip"


def test_metrics_exposes_counts_latency_cache_and_version(bundles, make_client):
    c = make_client(bundles["itemknn"])
    c.get("/v1/users/u1/recommendations")
    c.get("/v1/users/u1/recommendations")
    text = c.get("/metrics").text
    assert 'recsmith_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"} 2.0' in text
    assert "recsmith_request_seconds_bucket" in text
    assert 'recsmith_cache_hits_total{backend="memory"} 1.0' in text
    assert 'recsmith_model_info{model="itemknn",version="itemknn-v1"} 1.0' in text


# ---------------------------------------------------------------------- recommendations
@pytest.mark.parametrize("name", ["itemknn", "als", "als_hnsw", "bpr", "popular"])
def test_user_recommendations_exclude_seen(bundles, make_client, name):
    c = make_client(bundles[name])
    r = c.get("/v1/users/u3/recommendations", params={"k": 10})
    assert r.status_code == 200
    body = r.json()
    assert body["strategy"] == "personal" and body["cold_start"] is False and body["user_id"] == "u3"
    items = _items(r)
    assert len(items) == 10 and len(set(items)) == 10
    assert not set(items) & _seen(bundles[name], "u3")
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True)
    kept = c.get("/v1/users/u3/recommendations", params={"k": 10, "exclude_seen": "false"})
    assert set(_items(kept)) & _seen(bundles[name], "u3")


def test_ann_answer_matches_exact_model_ranking(bundles, make_client):
    b = Bundle.load(bundles["als"])
    expected, _ = b.model.recommend([3], 10)
    r = make_client(bundles["als"]).get("/v1/users/u3/recommendations", params={"k": 10})
    assert _items(r) == b.item_map.to_external(expected[0])


def test_unknown_user_gets_flagged_cold_start(bundles, make_client):
    c = make_client(bundles["als"])
    body = c.get("/v1/users/stranger/recommendations", params={"k": 5}).json()
    assert body["cold_start"] is True and body["strategy"] == "popular"
    b = Bundle.load(bundles["als"])
    pop, _ = b.model.recommend_cold(5)
    assert [it["item_id"] for it in body["items"]] == b.item_map.to_external(pop)


@pytest.mark.parametrize("name", ["itemknn", "als", "als_hnsw"])
def test_batch_and_session(bundles, make_client, name):
    c = make_client(bundles[name])
    r = c.post("/v1/recommendations", json={"user_ids": ["u1", "u25", "nobody"], "k": 4})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["user_id"] for x in results] == ["u1", "u25", "nobody"]
    assert [x["strategy"] for x in results] == ["personal", "personal", "popular"]
    assert all(len(x["items"]) == 4 for x in results)
    # an anonymous session of "group b" items gets group-b items, not the session's own items
    session = ["i30", "i31", "i32", "i33", "i34"]
    r = c.post("/v1/recommendations", json={"session_items": session, "k": 5})
    res = r.json()["results"][0]
    assert res["strategy"] == "session" and res["cold_start"] is True and res["user_id"] is None
    got = [it["item_id"] for it in res["items"]]
    assert not set(got) & set(session)
    assert sum(int(i[1:]) >= 30 for i in got) >= 3


def test_session_of_unknown_items_falls_back_to_popular(bundles, make_client):
    r = make_client(bundles["itemknn"]).post("/v1/recommendations", json={"session_items": ["zzz"], "k": 3})
    assert r.json()["results"][0]["strategy"] == "popular"


# ---------------------------------------------------------------------- business rules
FILTERS = [
    {"field": "category", "op": "in", "value": ["a", "b"]},
    {"field": "price", "op": "between", "value": [10, 50]},
    {"field": "in_stock", "op": "eq", "value": True},
]


def _passes(item: str) -> bool:
    i = int(item[1:])
    return ("a", "b", "c")[i % 3] in ("a", "b") and 10 <= 5 + i <= 50 and i % 4 != 0


@pytest.mark.parametrize("name", ["itemknn", "als", "als_hnsw", "popular"])
def test_filters_exclude_include_keep_k(bundles, make_client, name):
    c = make_client(bundles[name])
    body = {"user_ids": ["u2"], "k": 8, "filters": FILTERS, "exclude": ["i11", "i13"], "exclude_seen": False}
    items = [it["item_id"] for it in c.post("/v1/recommendations", json=body).json()["results"][0]["items"]]
    assert len(items) == 8 and all(_passes(i) for i in items) and not {"i11", "i13"} & set(items)
    # include-only: a candidate set of 5 (one fails the filters) -> the 4 that pass, even for k=10
    include = ["i1", "i2", "i5", "i7", "i12"]
    body = {"user_ids": ["u2"], "k": 10, "filters": FILTERS, "include": include, "exclude_seen": False}
    items = [it["item_id"] for it in c.post("/v1/recommendations", json=body).json()["results"][0]["items"]]
    assert sorted(items) == sorted(i for i in include if _passes(i))
    # the same rules through GET query parameters
    r = c.get(
        "/v1/users/u2/recommendations",
        params={"k": 8, "filters": json.dumps(FILTERS), "exclude": ["i11"], "exclude_seen": "false"},
    )
    items = _items(r)
    assert len(items) == 8 and all(_passes(i) for i in items) and "i11" not in items


def test_rules_on_cold_start_and_list_attribute(bundles, make_client):
    c = make_client(bundles["als"])
    r = c.get(
        "/v1/users/nobody/recommendations",
        params={"k": 20, "filters": json.dumps([{"field": "tags", "op": "eq", "value": "sale"}])},
    )
    items = _items(r)
    assert len(items) == 12 and all(int(i[1:]) % 5 == 0 for i in items)  # 12 items carry the "sale" tag


def test_filtered_ann_search_falls_back_to_exact(bundles, make_client):
    """HNSW + a selector may find too few; the answer is still the exact ranking of eligible items."""
    c = make_client(bundles["als_hnsw"], exact_below=0)
    b = Bundle.load(bundles["als_hnsw"])
    flt = [{"field": "price", "op": "lt", "value": 9}]  # i0..i3
    items = _items(
        c.get("/v1/users/u30/recommendations", params={"k": 10, "filters": json.dumps(flt), "exclude_seen": "false"})
    )
    scores = b.model.item_factors[:4] @ b.model.user_factors[30]
    assert items == [f"i{j}" for j in np.argsort(-scores, kind="stable")]


# ---------------------------------------------------------------------- similar items, search
def test_similar_items(bundles, make_client):
    c = make_client(bundles["itemknn"])
    r = c.get("/v1/items/i3/similar", params={"k": 5})
    assert r.status_code == 200
    items = _items(r)
    assert len(items) == 5 and "i3" not in items and r.json()["item_id"] == "i3"
    flt = json.dumps([{"field": "category", "op": "eq", "value": "c"}])
    items = _items(c.get("/v1/items/i3/similar", params={"k": 5, "filters": flt}))
    assert items and all(int(i[1:]) % 3 == 2 for i in items)
    r = c.get("/v1/items/nope/similar")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_similar_items_unsupported_model(bundles, make_client):
    r = make_client(bundles["popular"]).get("/v1/items/i3/similar")
    assert r.status_code == 409 and "similarity" in r.json()["error"]["message"]


def test_search_needs_text_encoder(bundles, make_client):
    c = make_client(bundles["als"])
    r = c.post("/v1/search", json={"query": "red dress", "k": 5})
    assert r.status_code == 409
    assert "no text encoder" in r.json()["error"]["message"]
    assert c.post("/v1/search", json={"query": ""}).status_code == 422


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "method, url, kwargs, fragment",
    [
        ("get", "/v1/users/u1/recommendations", {"params": {"k": 0}}, "k"),
        ("get", "/v1/users/u1/recommendations", {"params": {"k": 101}}, "at most 100"),
        ("get", "/v1/users/u1/recommendations", {"params": {"k": "ten"}}, "k"),
        ("get", "/v1/users/" + "x" * 300 + "/recommendations", {}, "user_id"),
        ("get", "/v1/users/u1/recommendations", {"params": {"filters": "not json"}}, "filters: not valid JSON"),
        (
            "get",
            "/v1/users/u1/recommendations",
            {"params": {"filters": json.dumps([{"field": "colour", "op": "eq", "value": 1}])}},
            "unknown filter field",
        ),
        (
            "get",
            "/v1/users/u1/recommendations",
            {"params": {"filters": json.dumps([{"field": "price", "op": "between", "value": 3}])}},
            "list",
        ),
        ("get", "/v1/users/u1/recommendations", {"params": {"exclude": [f"i{j}" for j in range(60)]}}, "at most 50"),
        ("post", "/v1/recommendations", {"json": {"k": 5}}, "exactly one"),
        ("post", "/v1/recommendations", {"json": {"user_ids": ["u1"], "session_items": ["i1"]}}, "exactly one"),
        ("post", "/v1/recommendations", {"json": {"user_ids": []}}, "user_ids"),
        ("post", "/v1/recommendations", {"json": {"user_ids": [f"u{j}" for j in range(11)]}}, "at most 10"),
        ("post", "/v1/recommendations", {"json": {"user_ids": ["u1"], "surprise": 1}}, "surprise"),
    ],
)
def test_validation_errors_are_json_422(bundles, make_client, method, url, kwargs, fragment):
    c = make_client(bundles["itemknn"], max_batch=10, max_ids=50)
    r = getattr(c, method)(url, **kwargs)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_request"
    assert fragment.lower() in json.dumps(err).lower()


def test_body_too_large_is_413(bundles, make_client):
    c = make_client(bundles["itemknn"], max_body_bytes=2048)
    r = c.post("/v1/recommendations", json={"user_ids": ["u" + "1" * 200] * 20})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the body is counted as it streams
        for _ in range(10):
            yield b" " * 1000

    r = c.post("/v1/recommendations", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_route_is_json_404(bundles, make_client):
    r = make_client(bundles["itemknn"]).get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


# ---------------------------------------------------------------------- auth, rate limits
def test_write_and_admin_endpoints_need_the_api_key(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    event = {"events": [{"user_id": "u1", "item_id": "i1", "type": "click"}]}
    assert c.post("/v1/feedback", json=event).status_code == 401
    r = c.post("/v1/feedback", json=event, headers={"X-API-Key": "wrong-key-000"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert c.post("/v1/feedback", json=event, headers=auth).status_code == 201
    assert (
        c.post("/v1/feedback", json=event, headers={"Authorization": f"Bearer {auth['X-API-Key']}"}).status_code == 201
    )
    assert c.post("/v1/admin/reload", json={}).status_code == 401
    assert c.post("/v1/admin/reload", json={}, headers={"X-API-Key": "wrong-key-000"}).status_code == 403
    # reads need no key
    assert c.get("/v1/users/u1/recommendations").status_code == 200


def test_rate_limit_answers_429_with_retry_after(bundles, make_client):
    c = make_client(bundles["itemknn"], rate_limit_per_s=0.5, rate_limit_burst=3)
    codes = [c.get("/v1/users/u1/recommendations").status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    r = c.get("/v1/users/u1/recommendations")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    assert c.get("/health").status_code == 200  # operations endpoints are not limited


# ---------------------------------------------------------------------- feedback takes effect
@pytest.mark.parametrize("name", ["itemknn", "als", "als_hnsw"])
def test_feedback_changes_the_next_answer(bundles, make_client, auth, name):
    c = make_client(bundles[name])
    first = c.get("/v1/users/u5/recommendations", params={"k": 5})
    assert c.get("/v1/users/u5/recommendations", params={"k": 5}).json()["cached"] is True
    top = _items(first)[0]
    r = c.post("/v1/feedback", json={"events": [{"user_id": "u5", "item_id": top, "type": "purchase"}]}, headers=auth)
    assert r.status_code == 201 and r.json()["accepted"] == 1
    after = c.get("/v1/users/u5/recommendations", params={"k": 5})
    assert after.json()["cached"] is False  # the user's cached list was invalidated
    assert top not in _items(after)  # seen now
    # the history changed the scores, not only the exclusion
    before_scores = {it["item_id"]: it["score"] for it in first.json()["items"]}
    after_scores = {it["item_id"]: it["score"] for it in after.json()["items"]}
    common = set(before_scores) & set(after_scores)
    assert any(abs(before_scores[i] - after_scores[i]) > 1e-6 for i in common)


def test_feedback_turns_an_unknown_user_into_a_session(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    assert c.get("/v1/users/newbie/recommendations").json()["strategy"] == "popular"
    events = [
        {"user_id": "newbie", "item_id": f"i{j}", "type": "view", "timestamp": 1_700_000_000 + j} for j in range(30, 36)
    ]
    assert c.post("/v1/feedback", json={"events": events}, headers=auth).status_code == 201
    body = c.get("/v1/users/newbie/recommendations", params={"k": 5}).json()
    assert body["strategy"] == "session" and body["cold_start"] is True
    got = [it["item_id"] for it in body["items"]]
    assert not set(got) & {f"i{j}" for j in range(30, 36)}
    assert sum(int(i[1:]) >= 30 for i in got) >= 3


def test_feedback_validation(bundles, make_client, auth):
    c = make_client(bundles["itemknn"], max_events=3)
    bad_type = {"events": [{"user_id": "u1", "item_id": "i1", "type": "teleport"}]}
    assert c.post("/v1/feedback", json=bad_type, headers=auth).status_code == 422
    too_many = {"events": [{"user_id": "u1", "item_id": "i1"}] * 4}
    assert c.post("/v1/feedback", json=too_many, headers=auth).status_code == 422
    assert c.post("/v1/feedback", json={"events": []}, headers=auth).status_code == 422
    # nothing from the rejected batches was stored
    assert c.app.state.service.feedback.count() == 0


def test_dislike_excludes_without_entering_history(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    top = _items(c.get("/v1/users/u7/recommendations", params={"k": 3}))[0]
    c.post("/v1/feedback", json={"events": [{"user_id": "u7", "item_id": top, "type": "dislike"}]}, headers=auth)
    assert top not in _items(c.get("/v1/users/u7/recommendations", params={"k": 3}))
    assert c.app.state.service.online.get("u7") == ([], [top])


# ---------------------------------------------------------------------- reload
def test_reload_switches_bundle_and_keeps_feedback(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    c.post("/v1/feedback", json={"events": [{"user_id": "u1", "item_id": "i0", "type": "click"}]}, headers=auth)
    r = c.post("/v1/admin/reload", json={"bundle": str(bundles["als"])}, headers=auth)
    assert r.status_code == 200
    assert r.json()["previous_version"] == "itemknn-v1" and r.json()["version"] == "als-v1"
    assert c.get("/v1/model").json()["version"] == "als-v1"
    body = c.get("/v1/users/u1/recommendations", params={"k": 60}).json()
    assert body["model_version"] == "als-v1" and "i0" not in [it["item_id"] for it in body["items"]]
    # a bad bundle is refused and the current one keeps serving
    r = c.post("/v1/admin/reload", json={"bundle": "/nonexistent/bundle"}, headers=auth)
    assert r.status_code == 422 and "not a model bundle" in r.json()["error"]["message"]
    assert c.get("/v1/model").json()["version"] == "als-v1"
    text = c.get("/metrics").text
    assert 'recsmith_model_info{model="als",version="als-v1"} 1.0' in text and "itemknn-v1" not in text


def test_reload_without_body_reloads_configured_bundle(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    r = c.post("/v1/admin/reload", headers=auth)
    assert r.status_code == 200 and r.json()["version"] == "itemknn-v1"
