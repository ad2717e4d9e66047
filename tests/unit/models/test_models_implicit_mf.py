"""``als`` / ``bpr``: the wiring to ``implicit`` and the shared factor-model logic."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recsmith.data.interactions import Interactions
from recsmith.models import create_model


def _interactions(n_users: int = 60, n_items: int = 30, seed: int = 0) -> Interactions:
    m = sp.random(n_users, n_items, density=0.15, format="coo", random_state=seed)
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {"user": m.row, "item": m.col, "timestamp": 0, "weight": rng.integers(1, 4, m.nnz).astype(float)}
    )
    return Interactions(frame, n_users, n_items)


def test_als_is_implicit_on_confidence_one_plus_alpha_w() -> None:
    data = _interactions()
    model = create_model("als", {"factors": 5, "alpha": 3.0, "binary": False, "iterations": 4, "seed": 9})
    model.fit(data)
    confidence = data.matrix.copy()
    confidence.data = 1 + 3.0 * confidence.data
    with threadpool_limits(1, "blas"):
        ref = AlternatingLeastSquares(factors=5, regularization=1.0, iterations=4, random_state=9)
        ref.fit(confidence, show_progress=False)
    np.testing.assert_allclose(model.user_factors, ref.user_factors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.item_factors, ref.item_factors, rtol=1e-5, atol=1e-6)


def test_als_is_deterministic_across_thread_counts() -> None:
    data = _interactions()
    one = create_model("als", {"factors": 6, "num_threads": 1}).fit(data)
    two = create_model("als", {"factors": 6, "num_threads": 2}).fit(data)
    np.testing.assert_array_equal(one.item_factors, two.item_factors)


def test_bpr_scores_equal_implicit_including_its_bias_column() -> None:
    data = _interactions()
    model = create_model("bpr", {"factors": 4, "iterations": 20, "seed": 3}).fit(data)
    ref = BayesianPersonalizedRanking(factors=4, iterations=20, random_state=3, num_threads=1)
    ref.fit(data.binary, show_progress=False)
    assert model.user_factors.shape == (60, 4) and model.item_bias.shape == (30,)
    users = np.arange(60)
    np.testing.assert_allclose(model._score(users), ref.user_factors @ ref.item_factors.T, rtol=1e-5, atol=1e-6)


def test_als_fold_in_is_implicits_user_recalculation_with_its_own_constants() -> None:
    """ALS folds a history in with its alpha and regularization, as implicit's exact (Cholesky)
    ``recalculate_user`` solves a user's row against the item factors."""
    data = _interactions()
    model = create_model("als", {"factors": 5, "alpha": 3.0, "regularization": 0.5, "iterations": 4, "seed": 9})
    model.fit(data)
    constants = model.fold_in_constants()
    assert (constants.alpha, constants.regularization) == (3.0, 0.5)
    users = np.arange(20)
    confidence = data.binary[users].astype(np.float32)  # the fit's confidence 1 + alpha * w, w = 1
    confidence.data = 1.0 + 3.0 * confidence.data
    ref = AlternatingLeastSquares(factors=5, regularization=0.5, alpha=1.0, dtype=np.float32, random_state=0)
    ref.item_factors = model.item_factors.copy()
    expected = ref.recalculate_user(users, confidence)
    folded = model.fold_in([model.seen_items(u) for u in users])
    # implicit solves in float32 (Cholesky), the fold-in in float64: seen 1.3e-7 apart for entries ~0.5
    np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=1e-6)


def test_bpr_folds_in_with_the_documented_defaults() -> None:
    from recsmith.models.abilities import DEFAULT_FOLD_IN

    assert create_model("bpr").fold_in_constants() == DEFAULT_FOLD_IN


def test_similar_items_is_cosine_of_item_factors() -> None:
    model = create_model("als", {"factors": 6}).fit(_interactions())
    v = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    cosine = v @ v.T
    np.fill_diagonal(cosine, -np.inf)
    items, scores = model.similar_items([4], k=3)
    np.testing.assert_array_equal(items[0], np.argsort(-cosine[4])[:3])
    np.testing.assert_allclose(scores[0], np.sort(cosine[4])[::-1][:3], rtol=1e-5)


def test_zero_item_vectors_have_zero_similarity_not_nan() -> None:
    model = create_model("als", {"factors": 4, "iterations": 2}).fit(_interactions())
    item_factors = model.item_factors.copy()
    item_factors[7] = 0  # e.g. an item no one interacted with, after heavy regularisation
    model._set_factors(model.user_factors, item_factors)
    _, scores = model.similar_items([7], k=3)
    np.testing.assert_array_equal(scores, 0)
    _, scores = model.similar_items([0], k=29)
    assert np.all(np.isfinite(scores))
