"""A two-stage bundle behind the API: per request the service retrieves candidates, builds the
features and ranks them; feedback events join the user's history, so retrieval and the user
features see them on the next request."""

from __future__ import annotations

import numpy as np
import pytest

from recsmith.models import create_model
from recsmith.ranking.model import FALLBACK

PARAMS = {
    "sources": {
        "itemknn": {"kind": "model", "model": "itemknn", "n": 15, "params": {"k": 20}},
        "again": {"kind": "repurchase", "n": 5},
        "next": {"kind": "cooccurrence", "n": 10, "window": 2},
        "pop": {"kind": "popular", "n": 5, "half_life_days": None},
    },
    "candidates": {"filter_seen": False},
    "features": ["user_count", "item_count", "ui_count", "ui_events_since_last"],
    "ranker": {"min_data_in_leaf": 2, "n_estimators": 30, "valid_share": 0.0, "threads": 1},
}


@pytest.fixture(scope="module")
def two_stage_bundle(tmp_path_factory, tiny):
    from recsmith.serving.bundle import write_bundle

    inter, user_map, item_map, attrs = tiny
    model = create_model("two_stage", PARAMS).fit(inter)
    path = write_bundle(
        tmp_path_factory.mktemp("two_stage") / "b", model, user_map, item_map, items=attrs, version="ts-v1"
    )
    return path, model, item_map


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [it["item_id"] for it in response.json()["items"]]


def test_known_user_gets_the_ranked_candidates(two_stage_bundle, make_client):
    path, model, item_map = two_stage_bundle
    client = make_client(path)
    info = client.get("/v1/model").json()
    assert info["model"] == "two_stage" and info["version"] == "ts-v1"
    response = client.get("/v1/users/u3/recommendations", params={"k": 8})
    body = response.json()
    assert body["strategy"] == "personal" and body["cold_start"] is False
    expected, scores = model.recommend([3], 8)
    assert _ids(response) == item_map.to_external(expected[0])
    assert all(s > FALLBACK + 1 for s in scores[0])  # ranked candidates, not the fallback


def test_known_users_are_served_from_the_stored_lists_without_running_the_pipeline(two_stage_bundle):
    """The bundle stores every known user's ranked candidates (``session_lists``, memory-mapped):
    a known user's answer is a row of it, equal to the offline model's, and runs neither the
    sources nor the ranker (the micro-batcher sees no work)."""
    import json

    from recsmith.serving.engine import Engine

    path, model, item_map = two_stage_bundle
    state = json.loads((path / "manifest.json").read_text())["user_state"]
    assert state["kind"] == "session_lists" and state["list_size"] == model.list_size() == 35
    engine = Engine.from_path(str(path))
    assert isinstance(engine.scorer.list_items, np.memmap)
    runs_before = engine.batcher.stats.batches
    users = np.arange(model.n_users)
    items, scores = model.recommend(users, k=12)
    for u in users:
        answer = engine.recommend(f"u{u}", 12)
        assert [it["item_id"] for it in answer["items"]] == item_map.to_external(items[u])
        np.testing.assert_allclose([it["score"] for it in answer["items"]], scores[u], rtol=1e-6)
    assert engine.batcher.stats.batches == runs_before, "a known user ran the pipeline"


def test_feedback_changes_the_features_and_the_answer(two_stage_bundle, make_client, auth):
    path, model, item_map = two_stage_bundle
    client = make_client(path)
    before = _ids(client.get("/v1/users/u3/recommendations", params={"k": 8}))
    new = ["i41", "i45", "i50"]  # the other taste group's items
    events = [{"user_id": "u3", "item_id": i, "type": "purchase"} for i in new]
    assert client.post("/v1/feedback", json={"events": events}, headers=auth).status_code == 201
    after = _ids(client.get("/v1/users/u3/recommendations", params={"k": 8}))
    history = np.concatenate([model.training_history(3), item_map.to_internal(new)])
    scores = model.session_scores([history], users=[3])[0]
    scores[list(set(model.seen_items(3)) | set(item_map.to_internal(new).tolist()))] = -np.inf
    expected = np.lexsort((np.arange(len(scores)), -scores))[:8]
    assert after == item_map.to_external(expected) and after != before
    assert not set(new) & set(after)


def test_anonymous_session(two_stage_bundle, make_client):
    path, model, item_map = two_stage_bundle
    response = make_client(path).post("/v1/recommendations", json={"session_items": ["i5", "i9"], "k": 5})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["strategy"] == "session" and result["cold_start"] is True
    expected, _ = model.recommend_sessions([item_map.to_internal(["i5", "i9"])], 5)
    assert [it["item_id"] for it in result["items"]] == item_map.to_external(expected[0])


def test_a_user_without_candidates_is_flagged_as_the_popularity_fallback(tmp_path, make_client) -> None:
    import polars as pl

    from recsmith.data.idmap import IdMap
    from recsmith.data.interactions import Interactions
    from recsmith.serving.bundle import write_bundle

    # as in tests/unit/ranking: user 2 has no history, so no source proposes anything for them
    frame = pl.DataFrame(
        {"user": [0, 0, 0, 1, 1, 1, 3, 3, 3], "item": [0, 1, 0, 1, 2, 1, 2, 3, 2], "timestamp": [0, 1, 2] * 3}
    ).with_columns(pl.lit(1.0).alias("weight"))
    params = {
        "sources": {"again": {"kind": "repurchase", "n": 3}, "next": {"kind": "cooccurrence", "n": 3}},
        "candidates": {"filter_seen": False},
        "ranker": {"min_data_in_leaf": 1, "valid_share": 0.0, "n_estimators": 5},
    }
    model = create_model("two_stage", params).fit(Interactions(frame, 4, 5))
    users = IdMap([f"u{u}" for u in range(4)], kind="user")
    items = IdMap([f"i{i}" for i in range(5)], kind="item")
    client = make_client(write_bundle(tmp_path / "b", model, users, items, version="ts-fallback"))
    fallback = client.get("/v1/users/u2/recommendations", params={"k": 3}).json()
    assert fallback["strategy"] == "popular" and fallback["cold_start"] is True
    ranked = client.get("/v1/users/u0/recommendations", params={"k": 3}).json()
    assert ranked["strategy"] == "personal" and ranked["cold_start"] is False
