"""Sequential, two-tower and TIGER bundles: served answers equal the offline model's, and known users
cost no network call (their state is stored in the bundle).

Tolerance: the service scores a known user by an inner product of the stored query vector with the
item vectors (FAISS or NumPy, float32), the model by its torch forward pass; sessions and users with
new events go through the network in ONNX Runtime (sequential models) or PyTorch. Each sums the same
float32 products in another order and shape, so scores agree within ``SERVED_RTOL`` of the row's
largest |score| (a few float32 epsilons; seen: ~3e-7), and item ids agree except where two scores
are tied within that tolerance. TIGER's answers are its beam search's output, stored or recomputed: the same
computation, so the same tolerance holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fitting import fitted

pytest.importorskip("torch")

SERVED_RTOL = 1e-5
_TRAIN = {"epochs": 2, "threads": 1, "tracking": {"mlflow": False}}
_SEQ = {"dim": 16, "max_len": 12, "dropout": 0.0, "train": {**_TRAIN, "loss": {"name": "softmax"}}}
MODELS = {
    "sasrec": _SEQ,
    "bert4rec": {**_SEQ, "layers": 1, "heads": 1},
    "gru4rec": _SEQ,
    # a user id embedding too: an anonymous session has none, which the user tower must handle
    "two_tower": {"dim": 16, "embedding_dim": 8, "hidden": [16], "user_id": True, "train": _TRAIN},
    "tiger": {
        "embedding_column": "vector",
        "rq_levels": 2,
        "rq_codes": 4,
        "rq_hidden": [16],
        "rq_latent_dim": 4,
        "rq_epochs": 30,
        "rq_batch_size": 30,
        "dim": 16,
        "heads": 2,
        "ff_dim": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "user_buckets": 8,
        "beam": 10,
        "dropout": 0.0,
        "train": _TRAIN,
    },
}


def _content(n_items: int):
    from recsmith.data.side import SideData

    rng = np.random.default_rng(0)
    group = (np.arange(n_items) >= n_items // 2).astype(int)
    vectors = rng.normal(size=(2, 8))[group] * 3 + rng.normal(size=(n_items, 8)) * 0.3
    return SideData(items=pl.DataFrame({"item": np.arange(n_items), "vector": vectors.tolist()}))


@pytest.fixture(scope="module", params=sorted(MODELS))
def served(request, tmp_path_factory, tiny):
    """``(name, fitted model, bundle path, item map)`` for each neural family."""
    from recsmith.serving.bundle import write_bundle

    name = request.param
    inter, user_map, item_map, attrs = tiny
    side = _content(inter.n_items) if name == "tiger" else None
    model = fitted(name, MODELS[name], inter, side=side)
    path = write_bundle(
        tmp_path_factory.mktemp(name) / "b", model, user_map, item_map, items=attrs, version=f"{name}-v1"
    )
    return name, model, path, item_map


def _engine(path):
    from recsmith.serving.engine import Engine

    return Engine.from_path(str(path))


def assert_served_equals(answer: dict, items: np.ndarray, scores: np.ndarray, item_map) -> None:
    """A served answer against the model's ``(items, scores)`` of one user (-1 / -inf padded). Where
    the model lists fewer items than asked (TIGER scores only its beam), the service fills the list
    with popular items after them (its documented rule): those come after the model's own."""
    keep = items >= 0
    items, scores = items[keep], scores[keep]
    got = answer["items"]
    assert len(got) >= len(items) and (len(got) == len(items) or not keep.all())
    assert not {it["item_id"] for it in got[len(items) :]} & set(item_map.to_external(items))
    got = got[: len(items)]
    served_scores = np.array([it["score"] for it in got], dtype=np.float64)
    scale = float(np.abs(scores).max(initial=1.0))
    tol = SERVED_RTOL * scale
    np.testing.assert_allclose(served_scores, scores, rtol=0, atol=tol)
    served_ids = [it["item_id"] for it in got]
    expected_ids = item_map.to_external(items)
    gaps = np.abs(np.diff(scores)) <= 2 * tol
    near_tie = np.zeros(len(items), dtype=bool)
    near_tie[1:] |= gaps
    near_tie[:-1] |= gaps
    differ = [i for i, (a, b) in enumerate(zip(served_ids, expected_ids)) if a != b and not near_tie[i]]
    assert not differ, f"ids differ at {differ} without a near tie: {served_ids} vs {expected_ids}"


def test_bundle_stores_the_known_users_state(served):
    name, model, path, _ = served
    manifest = json.loads((path / "manifest.json").read_text())
    state = manifest["user_state"]
    assert state["kind"] == ("session_lists" if name == "tiger" else "query_vectors")
    assert state["n_users"] == model.n_users
    for file in state["files"].values():
        assert f"state/{file}" in manifest["files"]  # checksummed like every file
        array = np.load(path / "state" / file, allow_pickle=False)
        assert array.dtype != object and array.shape[0] in (model.n_users, model.n_items)
    engine = _engine(path)
    stored = engine.scorer.state
    arrays = [a for a in (stored.queries, stored.item_vectors, stored.list_items, stored.list_scores) if a is not None]
    assert arrays and all(isinstance(a, np.memmap) for a in arrays)  # memory-mapped, not read in
    files = {a.filename for a in arrays}  # every file read before traffic (warm): the .npy header and data
    assert stored.prefetch() == sum(Path(f).stat().st_size for f in files) > sum(a.nbytes for a in arrays)
    if name != "tiger":
        assert manifest["index"] is not None  # the output item vectors are indexed like factors
    # the sequential networks run in ONNX Runtime (exported with the bundle); two_tower's user tower
    # (TorchRec embeddings) and TIGER's beam search in PyTorch
    exported = name in ("sasrec", "bert4rec", "gru4rec")
    assert ("query_vectors" in (manifest["encoders"] or {})) == exported
    assert getattr(engine.scorer, "runtime", "pytorch") == ("onnxruntime" if exported else "pytorch")


def test_known_users_are_served_as_offline_without_running_the_network(served):
    _, model, path, item_map = served
    engine = _engine(path)
    runs_before = engine.batcher.stats.batches
    users = np.arange(model.n_users)
    items, scores = model.recommend(users, k=10)
    for u in users:
        answer = engine.recommend(f"u{u}", 10)
        assert answer["strategy"] == "personal"
        assert_served_equals(answer, items[u], scores[u], item_map)
    assert engine.batcher.stats.batches == runs_before, "a known user ran the network"


def test_anonymous_sessions_are_served_as_offline(served):
    _, model, path, item_map = served
    engine = _engine(path)
    sessions = [["i5", "i9", "i2"], ["i40"], ["i1", "i33", "i7", "i50", "i12"]]
    internal = [item_map.to_internal(s) for s in sessions]
    items, scores = model.recommend_sessions(internal, k=8)
    for session, row_items, row_scores in zip(sessions, items, scores):
        answer = engine.recommend_session(session, 8)
        assert answer["strategy"] == "session"
        assert_served_equals(answer, row_items, row_scores, item_map)


def test_a_user_with_feedback_is_served_from_the_extended_history(served):
    from recsmith.serving.online import OnlineState

    _, model, path, item_map = served
    engine = _engine(path)
    online = OnlineState()
    for item in ("i47", "i3"):
        online.add("u3", item, "click")
    answer = engine.recommend("u3", 6, online=online)
    history = np.concatenate([model.training_history(3), item_map.to_internal(["i47", "i3"])])
    scores = model.session_scores([history], users=[3])[0]
    scores[np.concatenate([model.seen_items(3), item_map.to_internal(["i47", "i3"])])] = -np.inf
    from recsmith.models.base import top_k

    top, top_scores = top_k(scores[None, :], 6)
    top[~np.isfinite(top_scores)] = -1
    assert_served_equals(answer, top[0], top_scores[0], item_map)
    # the state after these events is computed once and kept: a second request runs no network
    runs = engine.batcher.stats.batches
    assert engine.recommend("u3", 6, online=online)["items"] == answer["items"]
    assert engine.batcher.stats.batches == runs
    online.add("u3", "i20", "click")  # a new event: a new state
    engine.recommend("u3", 6, online=online)
    assert engine.batcher.stats.batches == runs + 1


def test_a_bundle_without_stored_state_computes_it_at_load(served, tmp_path):
    """Bundles written before the state existed still serve the same answers (computed at load)."""
    import shutil

    _, model, path, item_map = served
    old = tmp_path / "old"
    shutil.copytree(path, old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["user_state"] = None
    (old / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(old / "state")
    engine = _engine(old)
    items, scores = model.recommend([7], k=5)
    assert_served_equals(engine.recommend("u7", 5), items[0], scores[0], item_map)


def test_feedback_over_http_computes_the_new_state_at_once(served, make_client, auth):
    """On a feedback event the user's new state is computed in the background (no request waits for
    it), so the user's next request is a lookup."""
    import time

    path = served[2]
    client = make_client(path)
    engine = client.app.state.service.engine
    r = client.post(
        "/v1/feedback", json={"events": [{"user_id": "u5", "item_id": "i44", "type": "click"}]}, headers=auth
    )
    assert r.status_code == 201
    deadline = time.monotonic() + 30
    while len(engine.fresh) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(engine.fresh) == 1
    runs = engine.batcher.stats.batches
    got = client.get("/v1/users/u5/recommendations", params={"k": 5})
    assert got.status_code == 200 and got.json()["strategy"] == "personal"
    assert engine.batcher.stats.batches == runs
