"""``itemknn``: shrunk cosine and top-k pruning, checked against hand computations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.models import create_model, itemknn
from recsmith.models.itemknn import top_k_cosine

# users x items      i0 i1 i2
#   u0                1  1  .
#   u1                1  1  1
#   u2                .  1  1
#   u3                1  .  .
# item vectors over users: i0 = (1,1,0,1), i1 = (1,1,1,0), i2 = (0,1,1,0)
# dots: i0.i1 = 2, i0.i2 = 1, i1.i2 = 2; norms: |i0| = |i1| = sqrt(3), |i2| = sqrt(2)
PAIRS = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (3, 0)]
S6 = np.sqrt(6.0)


def _interactions(pairs=PAIRS, n_users: int = 4, n_items: int = 3) -> Interactions:
    users, items = zip(*pairs)
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": 0, "weight": 1.0})
    return Interactions(frame, n_users, n_items)


def test_shrunk_cosine_by_hand() -> None:
    model = create_model("itemknn", {"shrink": 1.0}).fit(_interactions())
    s01, s02, s12 = 2 / (3 + 1), 1 / (S6 + 1), 2 / (S6 + 1)
    expected = np.array([[0, s01, s02], [s01, 0, s12], [s02, s12, 0]])
    np.testing.assert_allclose(model._weights.toarray(), expected, rtol=1e-6)


def test_no_shrink_is_plain_cosine() -> None:
    model = create_model("itemknn", {"shrink": 0.0}).fit(_interactions())
    expected = np.array([[0, 2 / 3, 1 / S6], [2 / 3, 0, 2 / S6], [1 / S6, 2 / S6, 0]])
    np.testing.assert_allclose(model._weights.toarray(), expected, rtol=1e-6)


def test_top_k_pruning_and_scores() -> None:
    model = create_model("itemknn", {"shrink": 1.0, "k": 1}).fit(_interactions())
    s01, s12 = 2 / (3 + 1), 2 / (S6 + 1)  # s12 = 0.58 > s01 = 0.5 > s02 = 0.29
    expected = np.array([[0, s01, 0], [0, 0, s12], [0, s12, 0]])  # row i: i's single neighbour
    np.testing.assert_allclose(model._weights.toarray(), expected, rtol=1e-6)
    assert model._weights.nnz == 3
    # u3 has only i0, whose neighbour is i1; i2 is nobody's neighbour of u3's items: score 0
    items, scores = model.recommend([3], k=2)
    np.testing.assert_array_equal(items[0], [1, 2])
    np.testing.assert_allclose(scores[0], [s01, 0.0], rtol=1e-6)
    # similar_items lists the kept neighbours only and pads the rest
    items, scores = model.similar_items([0, 1], k=2)
    np.testing.assert_array_equal(items, [[1, -1], [2, -1]])


def test_block_computation_matches_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vectors = sp.random(60, 40, density=0.15, format="csr", random_state=1, dtype=np.float32)
    vectors.data = rng.integers(1, 4, vectors.nnz).astype(np.float32)
    whole = top_k_cosine(vectors, k=7, shrink=2.0)
    monkeypatch.setattr(itemknn, "_BLOCK_CELLS", 3 * 60)  # 3 rows per block
    blocked = top_k_cosine(vectors, k=7, shrink=2.0)
    assert (whole != blocked).nnz == 0
    assert np.all(np.diff(whole.indptr) <= 7)
    # against a dense reference
    dense = vectors.toarray().astype(np.float64)
    norms = np.linalg.norm(dense, axis=1)
    ref = dense @ dense.T / (np.outer(norms, norms) + 2.0)
    np.fill_diagonal(ref, 0)
    for i in range(60):
        row = whole[i].toarray().ravel()
        kept = np.flatnonzero(row)
        np.testing.assert_allclose(row[kept], ref[i, kept], rtol=1e-5)
        if kept.size:  # nothing left out beats the weakest kept neighbour
            assert np.delete(ref[i], kept).max(initial=0) <= row[kept].min() + 1e-6


def test_bm25_and_tfidf_follow_implicit() -> None:
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    rng = np.random.default_rng(0)
    m = sp.random(30, 50, density=0.2, format="csr", random_state=2, dtype=np.float32)
    m.data = rng.integers(1, 5, m.nnz).astype(np.float32)
    ours = itemknn._reweight(m, "bm25", 1.2, 0.75).toarray()
    theirs = bm25_weight(m, K1=1.2, B=0.75).toarray()
    np.testing.assert_allclose(ours, np.maximum(theirs, 0), rtol=1e-5)  # idf clipped at 0
    np.testing.assert_allclose(itemknn._reweight(m, "tfidf", 0, 0).toarray(), tfidf_weight(m).toarray(), rtol=1e-5)


def test_weights_are_used_only_when_not_binary() -> None:
    pairs = PAIRS + [(0, 0)] * 3  # u0 interacted with i0 four times
    binary = create_model("itemknn", {"shrink": 0.0}).fit(_interactions(pairs))
    weighted = create_model("itemknn", {"shrink": 0.0, "binary": False}).fit(_interactions(pairs))
    np.testing.assert_allclose(binary._weights.toarray()[0, 1], 2 / 3, rtol=1e-6)
    # i0 = (4,1,0,1): i0.i1 = 5, |i0| = sqrt(18), |i1| = sqrt(3)
    np.testing.assert_allclose(weighted._weights.toarray()[0, 1], 5 / np.sqrt(54), rtol=1e-6)
