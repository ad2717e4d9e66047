"""``itemknn``: item-item nearest neighbours with shrunk cosine similarity."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsmith.models.base import top_k
from recsmith.models.item_item import ItemItemConfig, ItemItemModel
from recsmith.models.registry import register

# similarities are computed densely for this many (row x column) cells at a time (~32 MB float32)
_BLOCK_CELLS = 1 << 23


@register("itemknn")
class ItemKNN(ItemItemModel):
    """Item-based collaborative filtering (Sarwar et al. 2001; Deshpande & Karypis 2004).

    Each item is the vector of its users (columns of ``X``, optionally re-weighted by TF-IDF or
    BM25 as in ``implicit``). The similarity of items ``a`` and ``b`` is the shrunk cosine::

        sim(a, b) = a . b / (|a| |b| + shrink)

    where ``shrink`` pulls similarities built on few common users towards 0. Each item keeps its
    ``k`` most similar other items (positive similarities only), giving the sparse ``W``; a user's
    score for item ``j`` is the sum of ``sim(i, j)`` over the items ``i`` they interacted with for
    which ``j`` is among ``i``'s neighbours. ``similar_items(i)`` lists ``i``'s kept neighbours.
    """

    summary = "item-item nearest neighbours by shrunk cosine: fast, explainable, similar items"

    class Config(ItemItemConfig):
        k: int = Field(100, ge=1, description="neighbours kept per item")
        shrink: float = Field(10.0, ge=0, description="added to the cosine denominator |a||b|")
        weighting: Literal["none", "tfidf", "bm25"] = Field(
            "none", description="re-weight the item x user matrix before the cosine, as in implicit"
        )
        bm25_k1: float = Field(1.2, ge=0, description="BM25 term-saturation K1 (weighting='bm25')")
        bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation B (weighting='bm25')")

    config: Config

    def _item_weights(self, X: sp.csr_matrix) -> sp.csr_matrix:
        cfg = self.config
        item_users = _reweight(X.T.tocsr().astype(np.float32), cfg.weighting, cfg.bm25_k1, cfg.bm25_b)
        return top_k_cosine(item_users, cfg.k, cfg.shrink)


def top_k_cosine(vectors: sp.csr_matrix, k: int, shrink: float) -> sp.csr_matrix:
    """Row-sparse ``(n, n)`` matrix of each row's ``k`` largest positive shrunk cosines to other rows.

    ``vectors`` is ``(n, d)`` CSR. The ``n x n`` similarity is computed in dense row blocks of
    about ``_BLOCK_CELLS`` cells and pruned block by block, so memory stays
    ``O(block + n * k)`` rather than ``O(n^2)``.
    """
    n = vectors.shape[0]
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()).astype(np.float32)
    columns = vectors.T.tocsr()  # (d, n): block @ columns = block's dot products with every row
    block = max(1, _BLOCK_CELLS // max(n, 1))
    k = min(k, n - 1)
    rows, cols, vals = [], [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = (vectors[start:stop] @ columns).toarray().astype(np.float32, copy=False)
        denom = norms[start:stop, None] * norms[None, :] + np.float32(shrink)
        np.divide(sims, denom, out=sims, where=denom > 0)  # denom 0 only where the dot is 0 too
        sims[np.arange(stop - start), np.arange(start, stop)] = 0.0  # an item is not its own neighbour
        if k <= 0:
            continue
        top, top_sims = top_k(sims, k)
        keep = top_sims > 0
        rows.append(np.nonzero(keep)[0] + start)
        cols.append(top[keep])
        vals.append(top_sims[keep])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    out = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )
    out.sort_indices()
    return out


def _reweight(item_users: sp.csr_matrix, weighting: str, k1: float, b: float) -> sp.csr_matrix:
    """TF-IDF / BM25 on the ``(n_items, n_users)`` matrix, with items as documents and users as terms.

    Follows ``implicit.nearest_neighbours``: ``idf(user) = log(n_items) - log1p(items of user)``,
    so heavy users count less. Unlike implicit, a negative idf (a user who saw nearly every item,
    and so says nothing) is clipped to 0.
    """
    if weighting == "none":
        return item_users
    m = item_users.tocoo()
    n_docs = float(m.shape[0])
    idf = np.maximum(np.log(n_docs) - np.log1p(np.bincount(m.col, minlength=m.shape[1])), 0.0)
    if weighting == "tfidf":
        data = np.sqrt(m.data) * idf[m.col]
    else:
        lengths = np.asarray(item_users.sum(axis=1)).ravel()
        length_norm = (1.0 - b) + b * lengths / max(lengths.mean(), np.finfo(np.float32).tiny)
        data = m.data * (k1 + 1.0) / (k1 * length_norm[m.row] + m.data) * idf[m.col]
    out = sp.csr_matrix((data.astype(np.float32), (m.row, m.col)), shape=m.shape)
    out.eliminate_zeros()
    return out
