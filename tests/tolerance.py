"""Comparing rankings computed two ways (another batch shape, thread count, BLAS kernel, a served
answer against the offline one): floats within a stated tolerance, ids exactly outside near ties.
(A module of its own: ``tests/`` is on the path through its conftest.)"""

from __future__ import annotations

import numpy as np

#: Scores of one user may differ in the last bits of float32 between two computations of a different
#: shape (``batch_size``), thread count or BLAS build: the GEMM kernel and its blocking are chosen by
#: matrix shape and CPU (e.g. ``OPENBLAS_CORETYPE``), and another summation order rounds differently.
#: Seen: 6e-8 (ALS) and 2.4e-7 (BPR) absolute. The tolerance is a few float32 epsilons (1.2e-7)
#: relative, plus an absolute floor for scores near zero.
SCORE_RTOL, SCORE_ATOL = 1e-5, 1e-6
#: Two formulas for the same scores (embedding tables multiplied in numpy vs the network's torch
#: forward; a session batch vs the padded scoring blocks) sum float32 products in other orders and
#: shapes: errors are a few float32 epsilons (1.2e-7) of the largest |score| (seen: 3e-7 of it), so
#: they are compared within this share of the row's largest finite |score|.
SCALED_RTOL = 1e-5


def assert_scores_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to :data:`SCALED_RTOL` of the largest finite |score|; ``-inf`` in the same places."""
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected))
    finite = np.isfinite(expected)
    scale = float(np.abs(expected[finite]).max(initial=1.0))
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=0, atol=SCALED_RTOL * scale)


def assert_same_ranking(
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    *,
    rtol: float = SCORE_RTOL,
    atol: float = SCORE_ATOL,
) -> None:
    """Two ``(items, scores)`` answers agree: scores within the float tolerance above, ids exactly,
    except where two items' scores are tied up to that tolerance (exact ties are broken by the lower
    id, so only a tie that rounding itself creates or breaks may swap two ids)."""
    (items_a, scores_a), (items_b, scores_b) = a, b
    assert items_a.shape == items_b.shape and scores_a.shape == scores_b.shape
    np.testing.assert_allclose(scores_b, scores_a, rtol=rtol, atol=atol)
    finite = np.where(np.isfinite(scores_a), scores_a, 0.0).astype(np.float64)
    tol = atol + rtol * np.abs(finite)
    gap = np.abs(np.diff(finite, axis=1)) <= tol[:, 1:]  # position j tied with j + 1
    near_tie = np.zeros(items_a.shape, dtype=bool)
    near_tie[:, 1:] |= gap
    near_tie[:, :-1] |= gap
    swapped = (items_a != items_b) & ~near_tie
    assert not swapped.any(), f"ids differ at positions {np.argwhere(swapped)[:5].tolist()} without a near tie"
