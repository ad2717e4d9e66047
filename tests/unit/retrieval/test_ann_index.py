"""AnnIndex: build / search / persist / load for the factory strings and metrics, id selectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsmith.errors import ConfigError, RecsmithError
from recsmith.retrieval.ann import AnnIndex, exact_search

N, D = 3000, 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(30, D))
    x = (centers[rng.integers(0, 30, N)] + 0.3 * rng.normal(size=(N, D))).astype(np.float32)
    q = (centers[rng.integers(0, 30, 50)] + 0.3 * rng.normal(size=(50, D))).astype(np.float32)
    return x, q


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(got, truth)]))


@pytest.mark.parametrize(
    "factory, metric, params, min_recall",
    [
        ("Flat", "ip", {}, 1.0),
        ("Flat", "l2", {}, 1.0),
        ("Flat", "cosine", {}, 1.0),
        ("IVF32,Flat", "l2", {"nprobe": 32}, 1.0),  # every list visited: exact
        ("IVF32,Flat", "ip", {"nprobe": 8}, 0.8),
        ("HNSW16", "cosine", {"efSearch": 64}, 0.95),
        ("IVF16,PQ4x4", "l2", {"nprobe": 16}, 0.2),
    ],
)
def test_recall_against_exact_and_round_trip(tmp_path, data, factory, metric, params, min_recall):
    x, q = data
    index = AnnIndex.build(x, factory=factory, metric=metric, search_params=params)
    labels, scores = index.search(q, 10)
    truth, truth_scores = exact_search(x, q, 10, metric=metric)
    assert labels.shape == (50, 10) and scores.dtype == np.float32
    assert _recall(labels, truth) >= min_recall
    assert np.all(np.diff(scores, axis=1) <= 1e-5)  # higher is better, sorted
    if min_recall == 1.0:
        np.testing.assert_allclose(scores, truth_scores, rtol=1e-4, atol=1e-4)
    index.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert meta["factory"] == factory and meta["metric"] == metric and meta["dim"] == D
    assert meta["count"] == N and meta["search_params"] == params
    loaded = AnnIndex.load(tmp_path / "idx")
    assert (loaded.factory, loaded.metric, loaded.search_params) == (factory, metric, params)
    np.testing.assert_array_equal(loaded.search(q, 10)[0], labels)


def test_search_params_change_results_and_are_validated(data):
    x, q = data
    index = AnnIndex.build(x, factory="IVF64,Flat", metric="l2", search_params={"nprobe": 1})
    truth, _ = exact_search(x, q, 10, metric="l2")
    low = _recall(index.search(q, 10)[0], truth)
    high = _recall(index.search(q, 10, params={"nprobe": 64})[0], truth)
    assert high == 1.0 and low < high
    with pytest.raises(ConfigError, match="applies to HNSW"):
        index.search(q, 10, params={"efSearch": 10})
    with pytest.raises(ConfigError, match="unknown search parameter"):
        AnnIndex.build(x, factory="Flat", search_params={"speed": 3})
    with pytest.raises(ConfigError, match="invalid FAISS factory"):
        AnnIndex.build(x, factory="NoSuchIndex12")
    with pytest.raises(ConfigError, match="unknown metric"):
        AnnIndex.build(x, metric="manhattan")


@pytest.mark.parametrize("factory", ["Flat", "IVF32,Flat", "HNSW16"])
def test_allowed_selector(data, factory):
    x, q = data
    params = {"nprobe": 32} if factory.startswith("IVF") else {"efSearch": 256} if factory.startswith("HNSW") else {}
    index = AnnIndex.build(x, factory=factory, metric="ip", search_params=params)
    allowed = np.zeros(N, dtype=bool)
    allowed[::3] = True
    labels, _ = index.search(q, 10, allowed=allowed)
    assert np.all(allowed[labels[labels >= 0]])
    truth, _ = exact_search(x, q, 10, metric="ip", allowed=allowed)
    assert _recall(labels, truth) >= 0.9


def test_custom_labels_and_external_ids(tmp_path, data):
    x, q = data
    labels = np.arange(N) * 10 + 7
    ext = [f"item-{i}" for i in range(N)]
    index = AnnIndex.build(x, factory="Flat", metric="ip", labels=labels, external_ids=ext)
    got, _ = index.search(q[:1], 5)
    truth, _ = exact_search(x, q[:1], 5)
    np.testing.assert_array_equal(got[0], labels[truth[0]])
    allowed = np.zeros(labels.max() + 1, dtype=bool)
    allowed[labels[:100]] = True
    got, _ = index.search(q[:1], 5, allowed=allowed)
    assert set(got[0]) <= set(labels[:100])
    index.save(tmp_path / "idx")
    loaded = AnnIndex.load(tmp_path / "idx")
    assert loaded.external_ids == ext and loaded.to_external(np.array([0, 5])) == ["item-0", "item-5"]
    np.testing.assert_array_equal(loaded.labels, labels)


def test_fewer_than_k_are_padded(data):
    x, q = data
    index = AnnIndex.build(x[:4], factory="Flat", metric="l2")
    labels, scores = index.search(q[:2], 6)
    assert (labels[:, 4:] == -1).all() and np.isneginf(scores[:, 4:]).all()
    top, _s = exact_search(x[:4], q[:2], 6, metric="l2")
    assert (top[:, 4:] == -1).all()


def test_load_errors(tmp_path, data):
    with pytest.raises(RecsmithError, match="not a saved ANN index"):
        AnnIndex.load(tmp_path)
    x, _ = data
    AnnIndex.build(x, factory="Flat").save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    meta["count"] = 1
    (tmp_path / "idx" / "index.json").write_text(json.dumps(meta))
    with pytest.raises(RecsmithError, match="metadata says"):
        AnnIndex.load(tmp_path / "idx")


def test_search_does_not_look_for_modules_on_every_call(data, monkeypatch):
    # the extras check walks sys.path (~10 ms of stat calls): once faiss is loaded, a search (run on
    # every request of the service) must not repeat it
    import importlib.util

    x, q = data
    index = AnnIndex.build(x, factory="Flat", metric="ip")
    index.search(q[:1], 5)
    lookups = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda *a, **kw: lookups.append(a) or real(*a, **kw))
    index.search(q[:1], 5, allowed=np.ones(len(x), dtype=bool))
    assert lookups == []


def test_missing_faiss_is_still_reported_in_one_line(data, block_modules):
    from recsmith.errors import MissingExtraError

    block_modules("faiss")
    with pytest.raises(MissingExtraError, match=r"FAISS indexes needs recsmith's serve extra"):
        AnnIndex.build(data[0], factory="Flat")
