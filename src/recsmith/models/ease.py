"""``ease``: Embarrassingly Shallow Autoencoder (Steck, WWW 2019), a closed-form linear item model."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from scipy.linalg import get_lapack_funcs

from recsmith.errors import RecsmithError
from recsmith.models.item_item import ItemItemConfig, ItemItemModel
from recsmith.models.registry import register

_SYMMETRISE_BLOCK = 2048


@register("ease")
class EASE(ItemItemModel):
    """EASE: the item-item matrix ``B`` minimising ``|X - XB|^2 + l2 |B|^2`` with ``diag(B) = 0``.

    Closed form::

        G = X^T X + l2 * I,   P = G^-1,   B[i, j] = -P[i, j] / P[j, j],   B[j, j] = 0

    A user's score for item ``j`` is ``X_u @ B[:, j]``. ``similar_items(i)`` ranks the items ``j``
    by ``B[i, j]`` (row ``i``): how much having item ``i`` alone raises the score of ``j``, which is
    exactly the recommendation a user with only ``i`` would get.

    ``B`` is dense: fitting holds one ``n_items^2`` matrix in ``dtype`` (inverted in place) plus the
    ``float32`` result (12k items: 1.2 + 0.6 GB), and takes time cubic in ``n_items`` -- under a
    second for ~2k items, about half a minute for ~12k on two cores. Beyond ``max_items`` the fit
    refuses to start.
    """

    summary = "closed-form linear item-item model (EASE): often the best baseline up to ~50k items"

    class Config(ItemItemConfig):
        l2: float = Field(
            500.0,
            gt=0,
            description="L2 regularisation lambda added to the diagonal of X^T X; grows with the "
            "data (hundreds for 100k-interaction data sets, thousands for millions)",
        )
        dtype: Literal["float32", "float64"] = Field(
            "float64", description="precision of the inverse: float32 halves memory and roughly halves time"
        )
        max_items: int = Field(
            50_000, ge=1, description="refuse to fit above this many items (B is a dense n_items^2 matrix)"
        )

    config: Config

    def _item_weights(self, X: sp.csr_matrix) -> np.ndarray:
        cfg = self.config
        n = X.shape[1]
        if n > cfg.max_items:
            gib = n * n * (np.dtype(cfg.dtype).itemsize + 4) / 2**30
            raise RecsmithError(
                f"EASE needs dense {n:,} x {n:,} matrices (about {gib:.0f} GiB) for {n:,} items, more "
                f"than max_items={cfg.max_items:,}: filter rare items (min_item_interactions) or use itemknn"
            )
        dtype = np.dtype(cfg.dtype)
        gram = (X.T @ X).astype(dtype).toarray()  # (n, n) co-occurrence counts (weighted if binary=False)
        gram[np.diag_indices(n)] += cfg.l2
        P = inverse_spd(gram)
        P /= -np.diag(P)[None, :]  # B[i, j] = -P[i, j] / P[j, j]
        P[np.diag_indices(n)] = 0.0
        return P.astype(np.float32, order="C")  # C order: scoring reads rows of B


def inverse_spd(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix by Cholesky (LAPACK potrf + potri).

    About half the work of a general inverse. ``a`` is overwritten and the result returned in its
    memory (Fortran order).
    """
    # a is symmetric, so its C-ordered buffer read in Fortran order is the same matrix: pass a.T
    # (F-contiguous) and LAPACK works in place without a copy.
    af = a.T
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (af,))
    chol, info = potrf(af, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise RecsmithError(f"EASE: X^T X + l2*I is not positive definite (LAPACK potrf info={info}); raise l2")
    inv, info = potri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise RecsmithError(f"EASE: inverting the Cholesky factor failed (LAPACK potri info={info}); raise l2")
    # potri fills the upper triangle only; mirror it into the lower one, block by block so no
    # second n^2 temporary is needed
    n = inv.shape[0]
    for start in range(0, n, _SYMMETRISE_BLOCK):
        stop = min(start + _SYMMETRISE_BLOCK, n)
        inv[start:stop, :start] = inv[:start, start:stop].T
        diag = inv[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        diag[lower] = diag.T[lower]
    return inv
