"""Issue 18: each defect an outside tester found, sent again as the request that showed it.

The issue probed an ml-100k bundle (fields ``item_id``, ``name``, ``genres``); here the same request
shapes go to the tiny catalogue's ``category`` (text), ``price`` (number), ``in_stock`` (bool) and
``tags`` (list of text). No request carries a key unless the defect needs one.
"""

from __future__ import annotations

import json
import math
import shutil
import time

import pytest

FIELDS = ["category", "price", "in_stock", "tags"]
OPS = ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"]
VALUES = [
    "a",
    "",
    1,
    -(2**63),
    2**63,
    1.5,
    1e308,
    True,
    None,
    [],
    ["a"],
    ["a", 1],
    [True, "x"],
    [1.5, "z"],
    [1, 2.5],
    [1, 2],
    [None],
    [[1]],
    {"a": 1},
    ["2024-01-01", 3],
]


def _error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


# ---------------------------------------------------------------------- 1. mixed-type filter values
@pytest.mark.parametrize(
    ("method", "url", "kwargs", "field"),
    [
        (
            "post",
            "/v1/recommendations",
            {"json": {"user_ids": ["u1"], "filters": [{"field": "category", "op": "in", "value": ["a", 1]}]}},
            "category",
        ),
        (
            "get",
            "/v1/items/i3/similar",
            {"params": {"filters": json.dumps([{"field": "category", "op": "gte", "value": [True, "x"]}])}},
            "category",
        ),
        (
            "get",
            "/v1/users/u1/recommendations",
            {"params": {"filters": json.dumps([{"field": "tags", "op": "in", "value": [1.5, "z"]}])}},
            "tags",
        ),
    ],
)
def test_filter_values_of_mixed_types_are_422_naming_the_field(bundles, make_client, method, url, kwargs, field):
    r = getattr(make_client(bundles["itemknn"]), method)(url, **kwargs)
    assert r.status_code == 422, r.text
    error = _error(r)
    assert error["code"] == "invalid_request" and repr(field) in error["message"]


def test_every_field_op_value_combination_is_200_or_422(bundles, make_client):
    """The issue's grid (37 of 1,026 combinations gave 500), on every field of the tiny catalogue."""
    c = make_client(bundles["itemknn"])
    codes = {}
    for field in FIELDS:
        for op in OPS:
            for value in VALUES:
                flt = json.dumps([{"field": field, "op": op, "value": value}])
                r = c.get("/v1/users/u1/recommendations", params={"filters": flt})
                assert r.status_code in (200, 422), (flt, r.status_code, r.text)
                if r.status_code == 422:
                    _error(r)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
    assert codes[200] > 50 and codes[422] > 50  # both outcomes are exercised


def test_typed_filters_still_select_the_right_items(bundles, make_client):
    c = make_client(bundles["itemknn"])

    def items(flt):
        r = c.get("/v1/users/u1/recommendations", params={"k": 60, "exclude_seen": "false", "filters": json.dumps(flt)})
        assert r.status_code == 200, r.text
        return {int(it["item_id"][1:]) for it in r.json()["items"]}

    # an int and a float in one list: one literal type (float), price 5 + i
    assert items([{"field": "price", "op": "in", "value": [6, 7.0]}]) == {1, 2}
    assert items([{"field": "price", "op": "between", "value": [5, 6.5]}]) == {0, 1}
    assert items([{"field": "in_stock", "op": "eq", "value": False}]) == {i for i in range(60) if i % 4 == 0}


# ---------------------------------------------------------------------- 2. deeply nested filters
@pytest.mark.parametrize("depth", [900, 990, 2000])
def test_deeply_nested_filters_parameter_is_422(bundles, make_client, depth):
    r = make_client(bundles["itemknn"]).get(
        "/v1/users/u1/recommendations", params={"filters": "[" * depth + "]" * depth}
    )
    assert r.status_code == 422, r.text
    assert _error(r)["message"].startswith("filters")


def test_deeply_nested_body_is_400(bundles, make_client):
    body = '{"user_ids": ["u1"], "filters": ' + "[" * 5000 + "]" * 5000 + "}"
    r = make_client(bundles["itemknn"]).post(
        "/v1/recommendations", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "nested too deeply" in _error(r)["message"]


# ---------------------------------------------------------------------- 3. cache memory
def test_unknown_users_are_never_cached(bundles, make_client):
    c = make_client(bundles["als"])
    cache = c.app.state.service.cache
    for i in range(50):
        r = c.get(f"/v1/users/stranger-{i}/recommendations", params={"k": 100})
        assert r.status_code == 200 and r.json()["strategy"] == "popular"
    assert len(cache) == 0 and cache.nbytes == 0
    c.get("/v1/users/u1/recommendations", params={"k": 60})
    assert len(cache) == 1
    assert c.get("/v1/users/u1/recommendations", params={"k": 60}).json()["cached"] is True


def test_cache_is_bounded_by_bytes(bundles, make_client):
    c = make_client(bundles["als"], cache_max_bytes=20_000)
    cache = c.app.state.service.cache
    for u in range(40):
        for k in (10, 60):
            assert c.get(f"/v1/users/u{u}/recommendations", params={"k": k}).status_code == 200
    assert 0 < cache.nbytes <= 20_000
    assert 3 <= len(cache) < 80  # a 60-item list is ~4 KB of JSON: only a few fit


def test_expired_lists_are_swept_without_being_read(bundles, make_client):
    c = make_client(bundles["als"], cache_ttl_s=0.2)
    cache = c.app.state.service.cache
    for u in range(10):
        c.get(f"/v1/users/u{u}/recommendations")
    assert len(cache) >= 1
    deadline = time.monotonic() + 5
    while len(cache) and time.monotonic() < deadline:  # the service's sweeper runs every 0.5 s here
        time.sleep(0.05)
    assert len(cache) == 0 and cache.nbytes == 0


def test_ttl_cache_sweep_and_write_drop_expired_entries():
    from recsmith.serving.cache import TTLCache

    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()
    cache = TTLCache(ttl=10, max_bytes=10**6, clock=clock)
    for i in range(5):
        cache.set(f"u{i}", "k", {"v": i})
    clock.now = 5
    cache.set("late", "k", {"v": 9})
    clock.now = 11  # the first five expired, "late" has 4 s left
    cache.sweep()
    assert len(cache) == 1 and cache.get("late", "k") == {"v": 9}
    clock.now = 16
    cache.set("new", "k", {"v": 1})  # a write drops what expired, too
    assert len(cache) == 1 and cache.get("late", "k") is None


# ---------------------------------------------------------------------- 4. feedback values
def test_feedback_timestamp_beyond_any_calendar_is_422_and_nothing_is_stored(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    events = [{"user_id": "u1", "item_id": "i1"}, {"user_id": "u1", "item_id": "i2", "timestamp": 2**63}]
    r = c.post("/v1/feedback", json={"events": events}, headers=auth)
    assert r.status_code == 422, r.text
    error = _error(r)
    assert error["message"].startswith("body.events.1.timestamp")
    assert c.app.state.service.feedback.count() == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_feedback_nan_and_infinity_are_refused(bundles, make_client, auth, literal):
    c = make_client(bundles["itemknn"])
    body = '{"events": [{"user_id": "u1", "item_id": "i1", "value": VALUE}]}'.replace("VALUE", literal)
    r = c.post("/v1/feedback", content=body, headers={**auth, "content-type": "application/json"})
    assert r.status_code == 400 and literal.lstrip("-") in _error(r)["message"]
    # 1e400 is valid JSON that overflows to infinity
    body = '{"events": [{"user_id": "u1", "item_id": "i1", "value": 1e400}]}'
    r = c.post("/v1/feedback", content=body, headers={**auth, "content-type": "application/json"})
    assert r.status_code == 422 and "finite" in _error(r)["message"]
    assert c.app.state.service.feedback.count() == 0


def test_feedback_value_and_timestamp_round_trip(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    event = {"user_id": "u1", "item_id": "i1", "type": "rating", "value": 4.5, "timestamp": 1_700_000_000}
    assert c.post("/v1/feedback", json={"events": [event]}, headers=auth).status_code == 201
    stored = c.app.state.service.feedback.read_since(0)[0]
    assert stored.value == 4.5 and stored.timestamp == 1_700_000_000 and not math.isnan(stored.value)


# ---------------------------------------------------------------------- 5. reload paths
@pytest.mark.parametrize("path", ["/tmp/" + "x" * 300, "/tmp/a\u0000b", "x" * 4000])
def test_reload_with_unusable_path_is_422(bundles, make_client, auth, path):
    c = make_client(bundles["itemknn"])
    r = c.post("/v1/admin/reload", json={"bundle": path}, headers=auth)
    assert r.status_code == 422, r.text
    assert "not a model bundle" in _error(r)["message"]
    assert c.get("/v1/model").json()["version"] == "itemknn-v1"


def test_reload_errors_do_not_reveal_server_files(bundles, make_client, auth, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bundles["als"], broken)
    (broken / "ids" / "item_ids.parquet").unlink()
    c = make_client(bundles["itemknn"])
    r = c.post("/v1/admin/reload", json={"bundle": str(broken)}, headers=auth)
    assert r.status_code == 422
    message = _error(r)["message"]
    assert "cannot load bundle" in message and "keeps serving" in message
    assert "item_ids.parquet" not in message and "No such file" not in message
    assert c.get("/v1/model").json()["version"] == "itemknn-v1"


# ---------------------------------------------------------------------- 7. the contract
def test_an_unexpected_exception_is_a_json_500(bundles, make_client, monkeypatch):
    c = make_client(bundles["itemknn"])

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(c.app.state.service, "recommend_user_async", broken)
    r = c.get("/v1/users/u1/recommendations")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    error = _error(r)
    assert error["code"] == "internal_error" and error["details"]["error_id"] in error["message"]
    assert "a bug" not in r.text  # the log has it, the client does not
    assert c.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"user_ids": ["u1"],\n "k": }', "line 2, column"),
        (b'{"user_ids": ["u\xff"]}', "not UTF-8"),
        (b'{"user_ids": ["u1"]', "line 1, column"),
        (b"", None),
    ],
)
def test_malformed_body_is_400_saying_what_and_where(bundles, make_client, content, fragment):
    c = make_client(bundles["itemknn"])
    r = c.post("/v1/recommendations", content=content, headers={"content-type": "application/json"})
    if fragment is None:  # no body at all: the schema says what is missing
        assert r.status_code == 422
        return
    assert r.status_code == 400, r.text
    error = _error(r)
    assert error["code"] == "invalid_json" and fragment in error["message"]
    if "line" in fragment:
        assert error["details"]["line"] >= 1 and error["details"]["column"] >= 1


def test_a_body_that_is_not_json_is_415(bundles, make_client):
    r = make_client(bundles["itemknn"]).post(
        "/v1/recommendations", content=b"user_ids=u1", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415 and _error(r)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("k", ["1.0", "true", " 5", "5 ", "+5", "-1", "1e2", "０５", "9" * 30])
def test_k_in_a_query_must_be_plain_digits(bundles, make_client, k):
    r = make_client(bundles["itemknn"]).get("/v1/users/u1/recommendations", params={"k": k})
    assert r.status_code == 422, r.text
    assert _error(r)["message"].startswith("query.k")


@pytest.mark.parametrize("k", ["5", True, 5.5, None, [5]])
def test_k_in_a_body_must_be_a_json_integer(bundles, make_client, k):
    r = make_client(bundles["itemknn"]).post("/v1/recommendations", json={"user_ids": ["u1"], "k": k})
    assert r.status_code == 422, r.text
    assert _error(r)["message"].startswith("body.k")


def test_k_limit_has_one_message_and_is_in_the_schema(bundles, make_client):
    c = make_client(bundles["itemknn"], max_k=100, max_batch=7, max_ids=9, max_events=11)
    for k in (101, 1_000_000):
        r = c.get("/v1/users/u1/recommendations", params={"k": k})
        assert r.status_code == 422 and _error(r)["message"] == f"k must be at most 100, got {k}"
        r = c.post("/v1/recommendations", json={"user_ids": ["u1"], "k": k})
        assert r.status_code == 422 and _error(r)["message"] == f"k must be at most 100, got {k}"
    doc = c.get("/openapi.json").json()
    k_param = next(
        p for p in doc["paths"]["/v1/users/{user_id}/recommendations"]["get"]["parameters"] if p["name"] == "k"
    )
    assert k_param["schema"]["maximum"] == 100 and k_param["schema"]["minimum"] == 1
    props = doc["components"]["schemas"]["RecommendationsRequest"]["properties"]
    assert props["k"]["maximum"] == 100
    assert next(b for b in props["user_ids"]["anyOf"] if b["type"] == "array")["maxItems"] == 7
    assert next(b for b in props["session_items"]["anyOf"] if b["type"] == "array")["maxItems"] == 9
    assert doc["components"]["schemas"]["FeedbackRequest"]["properties"]["events"]["maxItems"] == 11
    assert "10000" not in json.dumps(doc)  # no stale hard limit left in the document


def test_openapi_declares_the_key_and_the_error_bodies(bundles, make_client):
    doc = make_client(bundles["itemknn"]).get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "one of the service's API keys",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"
    for path, method in (("/v1/feedback", "post"), ("/v1/admin/reload", "post")):
        op = doc["paths"][path][method]
        assert op["security"] == [{"ApiKey": []}, {"Bearer": []}]
        assert {"400", "401", "403", "413", "415", "422", "429", "500"} <= set(op["responses"])
        for code in ("400", "401", "422", "500"):
            ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorPublic")
        assert not any(p["name"].lower() == "x-api-key" for p in op.get("parameters", []))  # a scheme, not a header
    assert "security" not in doc["paths"]["/v1/users/{user_id}/recommendations"]["get"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {}),
        (b'{"events": []}', {}),
        (b'{"events": "nope"}', {"X-API-Key": "wrong-key-000"}),
    ],
)
def test_write_endpoints_authenticate_before_reading_the_body(bundles, make_client, content, headers):
    c = make_client(bundles["itemknn"])
    r = c.post("/v1/feedback", content=content, headers={"content-type": "application/json", **headers})
    expected = 403 if headers else 401
    assert r.status_code == expected and _error(r)["code"] == ("forbidden" if headers else "unauthorized")
    r = c.post("/v1/admin/reload", content=content, headers={"content-type": "application/json", **headers})
    assert r.status_code == expected


def test_rate_limit_comes_before_the_body(bundles, make_client):
    c = make_client(bundles["itemknn"], rate_limit_per_s=0.5, rate_limit_burst=2)
    codes = [
        c.post("/v1/recommendations", content=b"{bad", headers={"content-type": "application/json"}).status_code
        for _ in range(4)
    ]
    assert codes[:2] == [400, 400] and codes[2:] == [429, 429]


def test_lone_surrogates_in_ids_are_422_not_500(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    raw = '{"user_ids": ["\\ud800"]}'
    r = c.post("/v1/recommendations", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "unicode" in _error(r)["message"]
    raw = '{"events": [{"user_id": "u1", "item_id": "\\udfff"}]}'
    r = c.post("/v1/feedback", content=raw, headers={**auth, "content-type": "application/json"})
    assert r.status_code == 422 and c.app.state.service.feedback.count() == 0
    flt = '[{"field": "category", "op": "eq", "value": "\\ud800"}]'  # never echoed back: matches nothing
    r = c.get("/v1/users/u1/recommendations", params={"filters": flt})
    assert r.status_code == 200 and r.json()["items"] == []


# ---------------------------------------------------------------------- 8. one unknown-id policy
def test_unknown_ids_one_policy(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    # an unknown id in the path: 404
    r = c.get("/v1/items/zzz/similar")
    assert r.status_code == 404 and _error(r)["code"] == "not_found"
    # an unknown user is no error: a flagged cold-start list
    body = c.get("/v1/users/zzz/recommendations").json()
    assert body["cold_start"] is True and body["unknown_ids"] == []
    # unknown ids in include / exclude: ignored and reported
    r = c.get("/v1/users/u1/recommendations", params={"include": ["zzz"]})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["unknown_ids"] == ["zzz"]
    r = c.get("/v1/users/u1/recommendations", params={"include": ["zzz", "i3", "zzz"], "exclude_seen": "false"})
    assert [it["item_id"] for it in r.json()["items"]] == ["i3"] and r.json()["unknown_ids"] == ["zzz"]
    r = c.get("/v1/items/i3/similar", params={"exclude": ["nope", "i4"]})
    assert r.status_code == 200 and r.json()["unknown_ids"] == ["nope"]
    # unknown session items: ignored and reported (here all of them: a popularity list)
    r = c.post("/v1/recommendations", json={"session_items": ["zzz"], "k": 3})
    result = r.json()["results"][0]
    assert r.status_code == 200 and result["strategy"] == "popular" and result["unknown_ids"] == ["zzz"]
    r = c.post("/v1/recommendations", json={"session_items": ["i30", "zzz", "i31"], "k": 3})
    result = r.json()["results"][0]
    assert result["strategy"] == "session" and result["unknown_ids"] == ["zzz"]
    # batch: every list reports the unknown ids of the shared rules
    r = c.post("/v1/recommendations", json={"user_ids": ["u1", "u2"], "exclude": ["ghost"]})
    assert [x["unknown_ids"] for x in r.json()["results"]] == [["ghost"], ["ghost"]]
    # feedback: stored (a later bundle may know the item), reported, and the known events applied
    events = [{"user_id": "u9", "item_id": "i5", "type": "purchase"}, {"user_id": "u9", "item_id": "ghost"}]
    r = c.post("/v1/feedback", json={"events": events}, headers=auth)
    assert r.status_code == 201 and r.json()["accepted"] == 2 and r.json()["unknown_ids"] == ["ghost"]
    assert c.app.state.service.feedback.count() == 2
    items = [it["item_id"] for it in c.get("/v1/users/u9/recommendations", params={"k": 60}).json()["items"]]
    assert "i5" not in items and "ghost" not in items


# ---------------------------------------------------------------------- 9. offline /docs
def test_docs_load_no_asset_from_another_host(bundles, make_client):
    import re

    c = make_client(bundles["itemknn"])
    for page in ("/docs", "/redoc"):
        html = c.get(page)
        assert html.status_code == 200
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html.text, re.IGNORECASE), html.text
        assets = re.findall(r'(?:src|href)=["\']?([^"\' >]+)', html.text) + re.findall(r"url: '([^']+)'", html.text)
        assert assets
        for asset in assets:
            assert asset.startswith("/"), asset
            r = c.get(asset)
            assert r.status_code == 200 and len(r.content) > 100, asset
    assert "validatorUrl" in c.get("/docs").text  # the validator badge would call validator.swagger.io
