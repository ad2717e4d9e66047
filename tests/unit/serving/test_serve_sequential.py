"""A sequential model (SASRec) behind the API: its answers, anonymous sessions, and feedback entering
the history so the next answer changes."""

from __future__ import annotations

import numpy as np
import pytest

from fitting import fitted

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def sasrec_bundle(tmp_path_factory, tiny):
    from recsmith.serving.bundle import write_bundle

    inter, user_map, item_map, attrs = tiny
    params = {
        "dim": 16,
        "max_len": 12,
        "dropout": 0.0,
        "train": {"epochs": 3, "threads": 1, "tracking": {"mlflow": False}, "loss": {"name": "softmax"}},
    }
    model = fitted("sasrec", params, inter)
    path = write_bundle(
        tmp_path_factory.mktemp("sasrec") / "b", model, user_map, item_map, items=attrs, version="sasrec-v1"
    )
    return path, model, item_map


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [it["item_id"] for it in response.json()["items"]]


def test_known_user_matches_the_model(sasrec_bundle, make_client):
    path, model, item_map = sasrec_bundle
    got = _ids(make_client(path).get("/v1/users/u3/recommendations", params={"k": 5}))
    expected, _ = model.recommend([3], 5)
    assert got == item_map.to_external(expected[0])


def test_anonymous_session_is_read_as_a_sequence(sasrec_bundle, make_client):
    path, model, item_map = sasrec_bundle
    session = ["i5", "i9", "i2"]
    r = make_client(path).post("/v1/recommendations", json={"session_items": session, "k": 5})
    res = r.json()["results"][0]
    assert res["strategy"] == "session" and res["cold_start"] is True
    expected, _ = model.recommend_sessions([item_map.to_internal(session)], 5)
    assert [it["item_id"] for it in res["items"]] == item_map.to_external(expected[0])
    # order matters to a sequence model: the same items in another order score differently
    a = model.session_scores([[5, 9, 2]])[0]
    b = model.session_scores([[2, 9, 5]])[0]
    assert not np.allclose(a, b)


def test_feedback_enters_the_history(sasrec_bundle, make_client, auth):
    path, model, item_map = sasrec_bundle
    c = make_client(path)
    before = _ids(c.get("/v1/users/u3/recommendations", params={"k": 5}))
    new_item = "i47"
    r = c.post("/v1/feedback", json={"events": [{"user_id": "u3", "item_id": new_item, "type": "click"}]}, headers=auth)
    assert r.status_code == 201
    after = _ids(c.get("/v1/users/u3/recommendations", params={"k": 5}))
    history = np.concatenate([model.training_history(3), item_map.to_internal([new_item])])
    seen = set(model.seen_items(3)) | {47}
    scores = model.session_scores([history])[0]
    scores[list(seen)] = -np.inf
    expected = np.argsort(-scores, kind="stable")[:5]
    assert after == item_map.to_external(expected) and new_item not in after
    assert after != before


def test_tiger_serves_known_users_and_anonymous_sessions(tmp_path, tiny, make_client):
    """TIGER is a session recommender too: the service reads an anonymous session through it, with
    the average user token, and a known user with their own token."""
    import polars as pl

    from recsmith.data.side import SideData
    from recsmith.serving.bundle import write_bundle

    inter, user_map, item_map, attrs = tiny
    rng = np.random.default_rng(0)
    group = (np.arange(inter.n_items) >= inter.n_items // 2).astype(int)  # the two taste groups' items
    vectors = rng.normal(size=(2, 8))[group] * 3 + rng.normal(size=(inter.n_items, 8)) * 0.3
    side = SideData(items=pl.DataFrame({"item": np.arange(inter.n_items), "vector": vectors.tolist()}))
    params = {
        "embedding_column": "vector",
        "rq_levels": 2,
        "rq_codes": 4,
        "rq_hidden": [16],
        "rq_latent_dim": 4,
        "rq_epochs": 50,
        "rq_batch_size": 30,
        "dim": 16,
        "heads": 2,
        "ff_dim": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "user_buckets": 8,
        "beam": 10,
        "dropout": 0.0,
        "train": {"epochs": 3, "threads": 1, "tracking": {"mlflow": False}},
    }
    model = fitted("tiger", params, inter, side=side)
    path = write_bundle(tmp_path / "b", model, user_map, item_map, items=attrs, version="tiger-v1")
    client = make_client(path)
    got = _ids(client.get("/v1/users/u3/recommendations", params={"k": 5}))
    assert got == item_map.to_external(model.recommend([3], 5)[0][0])
    session = ["i5", "i9", "i2"]
    res = client.post("/v1/recommendations", json={"session_items": session, "k": 5}).json()["results"][0]
    expected, _ = model.recommend_sessions([item_map.to_internal(session)], 5)
    assert res["strategy"] == "session"
    assert [it["item_id"] for it in res["items"]] == item_map.to_external(expected[0][expected[0] >= 0])
