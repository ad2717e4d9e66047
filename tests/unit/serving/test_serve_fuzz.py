"""The fuzzing gate: schemathesis against the app's own OpenAPI document, and the filter language.

* schemathesis (pinned in requirements.lock) generates valid and invalid requests for every
  operation from ``/openapi.json``, in process against the ASGI app, with a fixed number of examples
  and derandomized (the same cases every run). Each case is sent twice, without and with the API
  key, and path ids are sometimes swapped for real ids of the test bundle so that the success paths
  run too. Every answer must: not be a 5xx, match the documented status codes and response schemas
  (schemathesis' checks), and carry the documented error body when it is an error.
* hypothesis: any JSON value as the value of a filter on any field with any op gives 200 or 4xx.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES_PER_OPERATION = 20
# operations whose generated valid requests must succeed at least once (search: the test bundle has no
# text encoder, 409; reload: generated paths are no bundles on this machine, 422)
SUCCEED_SOMETIMES = {
    "GET /v1/users/{user_id}/recommendations",
    "POST /v1/recommendations",
    "GET /v1/items/{item_id}/similar",
    "POST /v1/feedback",
    "GET /v1/model",
    "GET /health",
    "GET /ready",
    "GET /metrics",
}
LIMITS = {"max_k": 20, "max_batch": 5, "max_ids": 10, "max_events": 5}


@pytest.fixture(scope="module")
def fuzzed_app(bundles, tmp_path_factory, api_key):
    from recsmith.serving.app import create_app
    from recsmith.serving.settings import ServeSettings

    settings_ = ServeSettings(
        bundle=bundles["als"],
        state_dir=tmp_path_factory.mktemp("fuzz-state"),
        api_keys=[api_key],
        environment="test",
        rate_limit_per_s=0,
        **LIMITS,
    )
    return create_app(settings_)


def _cases() -> list[str]:
    """ "METHOD path mode" for every documented operation, in both generation modes where it takes
    input (an operation without parameters or body has no invalid request); the document needs no bundle."""
    from recsmith.serving.app import create_app
    from recsmith.serving.settings import ServeSettings

    doc = create_app(ServeSettings(environment="test", api_keys=["x" * 12])).openapi()
    cases = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            modes = ["positive", "negative"] if op.get("parameters") or op.get("requestBody") else ["positive"]
            cases += [f"{method.upper()} {path} {mode}" for mode in modes]
    return cases


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


@pytest.fixture(scope="module")
def with_real_ids(tiny):
    """Half the generated path ids become ids the bundle knows (chosen from the generated id: derandomized)."""
    _, user_map, item_map, _ = tiny
    known = {"user_id": user_map.external_ids.to_list(), "item_id": item_map.external_ids.to_list()}

    def swap(case):
        for name, ids in known.items():
            value = (case.path_parameters or {}).get(name)
            if isinstance(value, str) and len(value) % 2 == 0:
                case.path_parameters[name] = ids[len(value) % len(ids)]
        body = case.body
        # "exactly one of user_ids or session_items" is a rule the schema cannot state: a body with both
        # or neither is invalid, so keep one (which one follows from the body: derandomized)
        if case.operation.path == "/v1/recommendations" and isinstance(body, dict):
            given = [key for key in ("user_ids", "session_items") if body.get(key) is not None]
            if len(given) == 2:
                del body[given[len(str(body)) % 2]]
            elif not given:
                body.pop("session_items", None)
                body["user_ids"] = known["user_id"][:1]
        return case

    return swap


def documented_error_body(response) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert set(error) <= {"code", "message", "details"}, body


@pytest.mark.parametrize("operation_mode", _cases())
def test_no_5xx_schema_conformance_and_error_body(api_schema, with_real_ids, api_key, operation_mode):
    method, path, mode = operation_mode.split()
    operation = api_schema[path][method]

    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
    if mode == "positive":  # a swapped id would make a negative case valid
        strategy = strategy.map(with_real_ids)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case):
        for headers in ({}, {"X-API-Key": api_key}):
            response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500, response.text
            documented_error_body(response)
            statuses.add(response.status_code)

    statuses: set[int] = set()
    fuzz()
    if mode == "positive" and f"{method} {path}" in SUCCEED_SOMETIMES:
        assert any(200 <= s < 300 for s in statuses), statuses  # the success path ran


# ---------------------------------------------------------------------- the filter language
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(["category", "price", "in_stock", "tags", "item", "nope"]) | st.text(max_size=6)
OPS = st.sampled_from(["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"]) | st.text(max_size=5)


@pytest.fixture(scope="module")
def filter_client(fuzzed_app):
    from fastapi.testclient import TestClient

    with TestClient(fuzzed_app) as client:
        yield client


@given(field=FIELDS, op=OPS, value=JSON_VALUES)
@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_filter_value_gives_200_or_4xx(filter_client, field, op, value):
    flt = [{"field": field, "op": op, "value": value}]
    answers = [
        filter_client.post("/v1/recommendations", json={"user_ids": ["u1"], "k": 5, "filters": flt}),
        filter_client.get("/v1/users/u1/recommendations", params={"filters": json.dumps(flt)}),
        filter_client.get("/v1/items/i1/similar", params={"filters": json.dumps(flt)}),
    ]
    for r in answers:
        assert r.status_code == 200 or 400 <= r.status_code < 500, (flt, r.status_code, r.text)
        documented_error_body(r)
