"""``ease``: the closed form against a direct numpy solution."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.models import create_model
from recsmith.models.ease import inverse_spd

X = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1], [1, 0, 0]], dtype=float)  # 4 users x 3 items


def _interactions(x: np.ndarray) -> Interactions:
    users, items = np.nonzero(x)
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": 0, "weight": x[users, items]})
    return Interactions(frame, *x.shape)


def _reference(x: np.ndarray, l2: float) -> np.ndarray:
    P = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0)
    return B


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weights_match_numpy(dtype: str) -> None:
    model = create_model("ease", {"l2": 2.0, "dtype": dtype}).fit(_interactions(X))
    B = _reference(X, 2.0)
    np.testing.assert_allclose(model._weights, B, rtol=1e-5, atol=1e-7)
    assert np.all(np.diag(model._weights) == 0)
    # scores are X_u @ B; user 3 has only item 0, so its scores are row 0 of B
    items, scores = model.recommend([3], k=2)
    order = np.argsort(-B[0, 1:]) + 1
    np.testing.assert_array_equal(items[0], order)
    np.testing.assert_allclose(scores[0], B[0, order], rtol=1e-5)
    # the weights solve the constrained least squares: d/dB of |X - XB|^2 + l2|B|^2 is diagonal
    grad = -(X.T @ (X - X @ B)) + 2.0 * B
    np.testing.assert_allclose(grad - np.diag(np.diag(grad)), 0, atol=1e-5)


def test_similar_items_are_rows_of_b() -> None:
    model = create_model("ease", {"l2": 2.0}).fit(_interactions(X))
    B = _reference(X, 2.0)
    items, scores = model.similar_items([1], k=2)
    order = np.array([0, 2])[np.argsort(-B[1, [0, 2]])]
    np.testing.assert_array_equal(items[0], order)
    np.testing.assert_allclose(scores[0], B[1, order], rtol=1e-5)


def test_weighted_input_when_not_binary() -> None:
    xw = X * np.array([[3], [1], [2], [1]])
    model = create_model("ease", {"l2": 1.0, "binary": False}).fit(_interactions(xw))
    np.testing.assert_allclose(model._weights, _reference(xw, 1.0), rtol=1e-5, atol=1e-7)
    binary = create_model("ease", {"l2": 1.0}).fit(_interactions(xw))
    np.testing.assert_allclose(binary._weights, _reference(X, 1.0), rtol=1e-5, atol=1e-7)


def test_inverse_spd_matches_numpy_for_blocked_symmetrisation(monkeypatch: pytest.MonkeyPatch) -> None:
    import recsmith.models.ease as ease

    monkeypatch.setattr(ease, "_SYMMETRISE_BLOCK", 7)
    rng = np.random.default_rng(0)
    a = rng.random((30, 40))
    g = a @ a.T + np.eye(30)
    np.testing.assert_allclose(inverse_spd(g.copy()), np.linalg.inv(g), rtol=1e-8, atol=1e-10)


def test_too_many_items_is_a_clear_error() -> None:
    with pytest.raises(RecsmithError, match=r"max_items=2.*itemknn"):
        create_model("ease", {"max_items": 2}).fit(_interactions(X))
