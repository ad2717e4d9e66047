"""Beyond-accuracy metrics of a set of top-K recommendation lists, vectorised over users.

Lists are ``(n, K)`` int arrays of item ids, best first, one row per user; ``-1`` pads short lists.
Every function here first *cleans* the lists (:func:`clean_lists`): padding is ignored and an item
repeated within a list counts once, at its first position. ``K`` is the width of the array passed
in: truncate with ``lists[:, :k]`` to measure at a smaller cutoff.

Notation: ``L_u`` is user ``u``'s cleaned list and ``m_u = |L_u|``; ``I`` the catalogue
(``n_items`` items); ``pop_i`` the number of distinct *training* users who interacted with item
``i``; ``U`` the number of users with at least one training interaction.

=======================  ==========================================================================
metric                   definition
=======================  ==========================================================================
``coverage@K``           ``|union_u L_u| / |I|``: share of the catalogue recommended to anyone
                         (``catalog_coverage`` is the same at the longest list stored)
``gini``                 Gini index of item exposure ``x_i = #{u : i in L_u}`` over *all* catalogue
                         items, sorted ascending: ``sum_j (2j - |I| - 1) x_(j) / (|I| sum_j x_j)``;
                         0 = every item equally exposed, towards 1 = a few items take everything
``personalisation``      ``1 - mean_{u != v} cos(b_u, b_v)`` over pairs of users, ``b_u`` the binary
                         item vector of ``L_u``: 0 = everybody gets the same list, 1 = no overlap
``novelty``              per user ``mean_{i in L_u} -log2(p_i)``, ``p_i = max(pop_i, 1) / U`` (bits;
                         an item never seen in training counts as seen once)
``arp``                  average recommendation popularity: per user ``mean_{i in L_u} pop_i``
``long_tail_share``      per user the share of ``L_u`` outside the *head*, the ``ceil(0.2 |I|)`` most
                         popular items (ties by lower item id)
``ild``                  intra-list diversity: per user ``1 - mean_{i != j in L_u} cos(f_i, f_j)`` for
                         item feature vectors ``f`` (embeddings, or multi-hot categories); an item
                         without features has similarity 0 to every other; ``nan`` if ``m_u < 2``
``serendipity``          per user ``|{i in L_u : i relevant, i not in B_u}| / K`` where ``B_u`` is
                         the popularity baseline's top-K list for ``u`` (relevant *and* unexpected)
``calibration``          per user ``KL(p_u || q~_u) = sum_g p_u(g) ln(p_u(g) / q~_u(g))`` (nats): ``p_u``
                         the category mix of the user's training items, ``q_u`` that of ``L_u``, each
                         item spreading weight 1 evenly over its categories, ``q~ = (1 - a) q + a p``
                         with ``a = 0.01`` (Steck 2018); 0 = perfectly calibrated; ``nan`` for a
                         user whose history has no categorised item
=======================  ==========================================================================

Per-user metrics are ``nan`` for a user with an empty list; averages skip ``nan`` users. The
set-level metrics (coverage, gini, personalisation) accept a ``weights`` matrix of per-user
multiplicities, shape ``(B, n)``, and return one value per row: that is how the bootstrap
(:mod:`.stats`) resamples users without recomputing the lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.evaluation.metrics import hit_matrix

#: share of the catalogue (most popular first) that makes up the "head" for long_tail_share
HEAD_SHARE = 0.2
#: calibration's mixing weight a in q~ = (1 - a) q + a p, which keeps the KL finite
CALIBRATION_ALPHA = 0.01


# ---------------------------------------------------------------------- list plumbing
def clean_lists(lists: np.ndarray) -> np.ndarray:
    """int64 copy of ``lists`` with padding and later copies of a repeated item set to ``-1``."""
    rec = np.asarray(lists)
    if rec.ndim != 2:
        raise ValueError(f"lists must be 2-D (n, K), got shape {rec.shape}")
    rec = rec.astype(np.int64, copy=True)
    if rec.shape[1] > 1:
        order = np.argsort(rec, axis=1, kind="stable")  # stable: the first copy comes first
        srt = np.take_along_axis(rec, order, axis=1)
        dup_sorted = np.zeros(rec.shape, dtype=bool)
        dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
        dup = np.zeros(rec.shape, dtype=bool)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        rec[dup] = -1
    rec[rec < 0] = -1
    return rec


def list_matrix(lists: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Binary ``(n, n_items)`` CSR: row ``u`` has a 1 for each item of ``L_u``."""
    rec = clean_lists(lists)
    if rec.size and rec.max() >= n_items:
        raise ValueError(f"item ids must lie in [0, {n_items}); got {int(rec.max())}")
    valid = rec >= 0
    rows = np.broadcast_to(np.arange(rec.shape[0])[:, None], rec.shape)[valid]
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float64), (rows, rec[valid])), shape=(rec.shape[0], n_items))
    m.sort_indices()
    return m


def item_popularity(train: Interactions) -> np.ndarray:
    """``pop_i``: distinct training users per item, int64 ``(n_items,)``."""
    return np.diff(train.binary.tocsc().indptr).astype(np.int64)


# ---------------------------------------------------------------------- set-level metrics
def exposure(membership: sp.csr_matrix, weights: np.ndarray | None = None) -> np.ndarray:
    """Item exposure ``x_i``: how many lists contain each item. ``(n_items,)``, or ``(B, n_items)``
    for a ``(B, n)`` ``weights`` matrix (per-user multiplicities)."""
    if weights is None:
        return np.asarray(membership.sum(axis=0)).ravel()
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    return np.asarray(membership.T @ w.T).T


def coverage(membership: sp.csr_matrix, weights: np.ndarray | None = None) -> float | np.ndarray:
    """``|union_u L_u| / |I|`` (one value per row of ``weights`` when given)."""
    x = exposure(membership, weights)
    return (x > 0).mean(axis=-1)


def gini_index(x: np.ndarray) -> float | np.ndarray:
    """Gini index of non-negative exposures (last axis = items); ``nan`` when all are zero."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=-1)
    n = x.shape[-1]
    coef = 2.0 * np.arange(1, n + 1) - n - 1
    total = x.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (x @ coef) / (n * total)
    return np.where(total > 0, g, np.nan)


def personalisation(membership: sp.csr_matrix, weights: np.ndarray | None = None) -> float | np.ndarray:
    """``1 - mean_{u != v} cos(b_u, b_v)``; users with empty lists are left out; ``nan`` below 2 users.

    Uses ``sum_{u != v} cos = ||sum_u b_u / |b_u| ||^2 - #users``: linear in the number of users.
    With ``weights`` (multiplicities ``w_u``) the mean runs over pairs of *distinct* users, each
    pair weighted ``w_u w_v``, so a user drawn twice by the bootstrap is not paired with itself.
    """
    m_u = np.diff(membership.indptr)
    has = (m_u > 0).astype(np.float64)
    scale = np.zeros(m_u.size)
    scale[m_u > 0] = 1.0 / np.sqrt(m_u[m_u > 0])
    w = np.ones((1, m_u.size)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    s = np.asarray(membership.T @ (w * scale).T).T  # (B, n_items): weighted sum of unit list vectors
    total, self_pairs = w @ has, (w * w) @ has
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cos = ((s * s).sum(axis=1) - self_pairs) / (total * total - self_pairs)
    n_users = (w > 0) @ has
    out = np.where(n_users >= 2, 1.0 - mean_cos, np.nan)
    return float(out[0]) if weights is None else out


def popularity_lists(
    train: Interactions, users: np.ndarray, k: int, *, filter_seen: bool = True, chunk: int = 4096
) -> np.ndarray:
    """The popularity baseline's top-``k`` for ``users``: int64 ``(n, k)``, ``-1`` padded.

    Items by ``pop_i`` descending, ties by lower id, each user's training items removed when
    ``filter_seen``: the same lists as the ``popular`` model with its defaults, without scoring
    the whole catalogue per user (a user's list is among the first ``k + |seen_u|`` items).
    """
    users = np.asarray(users, dtype=np.int64)
    pop = item_popularity(train)
    order = np.lexsort((np.arange(pop.size), -pop))
    k_eff = min(k, pop.size)
    out = np.full((users.size, k), -1, dtype=np.int64)
    if not filter_seen:
        out[:, :k_eff] = order[:k_eff]
        return out
    seen = train.binary
    rank = np.empty(pop.size, dtype=np.int64)
    rank[order] = np.arange(pop.size)
    n_seen = np.diff(seen.indptr)
    for start in range(0, users.size, chunk):
        batch = users[start : start + chunk]
        width = min(pop.size, k_eff + int(n_seen[batch].max(initial=0)))
        cand = np.broadcast_to(order[:width], (batch.size, width))
        # mark each user's seen items that fall inside the candidate prefix
        rows = seen[batch]
        r = np.repeat(np.arange(batch.size), np.diff(rows.indptr))
        pos = rank[rows.indices]
        blocked = np.zeros((batch.size, width), dtype=bool)
        inside = pos < width
        blocked[r[inside], pos[inside]] = True
        keep = ~blocked & (np.cumsum(~blocked, axis=1) <= k_eff)
        counts = keep.sum(axis=1)
        rr, cc = np.nonzero(keep)
        slot = np.arange(rr.size) - np.repeat(np.cumsum(counts) - counts, counts)
        out[start + rr, slot] = cand[rr, cc]
    return out


# ---------------------------------------------------------------------- per-user metrics
def _row_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    count = valid.sum(axis=1)
    total = np.where(valid, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def novelty(lists: np.ndarray, popularity: np.ndarray, n_train_users: int) -> np.ndarray:
    """Mean self-information ``-log2(max(pop_i, 1) / U)`` of each user's items, bits, ``(n,)``."""
    rec = clean_lists(lists)
    info = -np.log2(np.maximum(np.asarray(popularity, dtype=np.float64), 1.0) / max(n_train_users, 1))
    return _row_mean(info[np.maximum(rec, 0)], rec >= 0)


def average_popularity(lists: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Mean ``pop_i`` of each user's items, ``(n,)``."""
    rec = clean_lists(lists)
    pop = np.asarray(popularity, dtype=np.float64)
    return _row_mean(pop[np.maximum(rec, 0)], rec >= 0)


def head_items(popularity: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """Bool ``(n_items,)``: the ``ceil(head_share * n_items)`` most popular items (ties: lower id)."""
    pop = np.asarray(popularity)
    order = np.lexsort((np.arange(pop.size), -pop))
    head = np.zeros(pop.size, dtype=bool)
    head[order[: math.ceil(head_share * pop.size)]] = True
    return head


def long_tail_share(lists: np.ndarray, popularity: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """Share of each user's items outside the popularity head (:func:`head_items`), ``(n,)``."""
    rec = clean_lists(lists)
    tail = ~head_items(popularity, head_share)
    return _row_mean(tail[np.maximum(rec, 0)].astype(np.float64), rec >= 0)


def intra_list_diversity(
    lists: np.ndarray, features: np.ndarray | sp.spmatrix | sp.sparray, chunk: int = 65_536
) -> np.ndarray:
    """``1 - mean pairwise cosine similarity`` of each list's item features, ``(n,)``.

    Args:
        lists: ``(n, K)`` item ids.
        features: ``(n_items, d)`` dense embeddings or a sparse (e.g. multi-hot category) matrix.
        chunk: users per step (bounds the ``chunk x d`` intermediate).

    Uses ``sum_{i != j} cos(f_i, f_j) = ||sum_i f_i/|f_i| ||^2 - #{i : f_i != 0}``, so the cost is
    ``O(n K d)`` rather than ``O(n K^2 d)``.
    """
    rec = clean_lists(lists)
    n_items = features.shape[0]
    if sp.issparse(features):
        f = sp.csr_matrix(features, dtype=np.float64)
        norms = np.sqrt(np.asarray(f.multiply(f).sum(axis=1)).ravel())
        unit = sp.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ f
    else:
        f = np.asarray(features, dtype=np.float32)
        norms = np.linalg.norm(f, axis=1)
        unit = f / np.where(norms > 0, norms, 1.0)[:, None]
    nonzero = norms > 0
    out = np.full(rec.shape[0], np.nan)
    for start in range(0, rec.shape[0], chunk):
        block = rec[start : start + chunk]
        member = list_matrix(block, n_items)
        summed = member @ unit
        if sp.issparse(summed):
            sq = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
        else:
            sq = np.einsum("ij,ij->i", summed, summed, dtype=np.float64)
        m = (block >= 0).sum(axis=1)
        n_nonzero = np.asarray(member @ nonzero.astype(np.float64)).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            ild = 1.0 - (sq - n_nonzero) / (m * (m - 1.0))
        out[start : start + block.shape[0]] = np.where(m >= 2, ild, np.nan)
    return out


def serendipity(lists: np.ndarray, relevant: sp.spmatrix | Sequence[np.ndarray], baseline: np.ndarray) -> np.ndarray:
    """Per user: relevant items of ``L_u`` not in the baseline's list ``B_u``, divided by ``K``.

    Args:
        lists: ``(n, K)``; relevant: per-row relevant items (as for :func:`hit_matrix`);
        baseline: ``(n, K_b)`` the popularity baseline's lists for the same users, same ``K``
            in the usual case.
    """
    rec = clean_lists(lists)
    base = clean_lists(baseline)
    if base.shape[0] != rec.shape[0]:
        raise ValueError(f"baseline has {base.shape[0]} rows but lists has {rec.shape[0]}")
    hits, _ = hit_matrix(rec, relevant)
    width = int(max(rec.max(initial=-1), base.max(initial=-1))) + 1
    in_base, _ = hit_matrix(rec, list_matrix(base, max(width, 1)))
    return (hits & ~in_base).sum(axis=1) / rec.shape[1]


def category_mix(items: sp.csr_matrix, categories: sp.csr_matrix) -> sp.csr_matrix:
    """Row-stochastic ``(n, G)`` category distribution of each row's items (empty rows stay 0).

    ``items`` is ``(n, n_items)`` (lists or histories, values ignored); ``categories`` is the
    ``(n_items, G)`` multi-hot matrix. Each item spreads weight 1 evenly over its categories.
    """
    cats = sp.csr_matrix(categories, dtype=np.float64)
    per_item = np.asarray(cats.sum(axis=1)).ravel()
    p_item = sp.diags(np.where(per_item > 0, 1.0 / np.where(per_item > 0, per_item, 1.0), 0.0)) @ cats
    binary = sp.csr_matrix(items, dtype=np.float64, copy=True)
    binary.data[:] = 1.0
    mix = sp.csr_matrix(binary @ p_item)
    totals = np.asarray(mix.sum(axis=1)).ravel()
    mix = sp.csr_matrix(sp.diags(np.where(totals > 0, 1.0 / np.where(totals > 0, totals, 1.0), 0.0)) @ mix)
    mix.sum_duplicates()
    mix.sort_indices()
    return mix


def calibration(
    lists: np.ndarray,
    history: sp.spmatrix,
    categories: sp.spmatrix,
    alpha: float = CALIBRATION_ALPHA,
) -> np.ndarray:
    """Steck's miscalibration ``KL(p_u || (1 - alpha) q_u + alpha p_u)`` per user, nats, ``(n,)``.

    Args:
        lists: ``(n, K)``; history: ``(n, n_items)`` each user's training items (rows aligned);
        categories: ``(n_items, G)`` multi-hot item categories.
    """
    n_items = categories.shape[0]
    p = category_mix(history, categories)
    q = category_mix(list_matrix(lists, n_items), categories)
    support = p.copy()
    support.data[:] = 1.0
    mixed = sp.csr_matrix((1.0 - alpha) * q.multiply(support) + alpha * p)
    mixed.sum_duplicates()
    mixed.sort_indices()
    # mixed has exactly p's sparsity pattern (alpha * p > 0 wherever p > 0), so data lines up
    if mixed.nnz != p.nnz or not np.array_equal(mixed.indices, p.indices):
        raise AssertionError("calibration: sparsity patterns differ")  # pragma: no cover
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    kl = np.bincount(rows, weights=p.data * np.log(p.data / mixed.data), minlength=p.shape[0])
    return np.where(np.diff(p.indptr) > 0, kl, np.nan)


# ---------------------------------------------------------------------- item categories
#: column names tried first when guessing an items table's categorical column
CATEGORY_COLUMNS = ("genres", "genre", "categories", "category", "product_type_name", "attributes", "tags")


def guess_category_column(items: pl.DataFrame | None) -> str | None:
    """The items table's categorical column: a known name, else the first list-of-strings column."""
    if items is None:
        return None
    for name in CATEGORY_COLUMNS:
        if name in items.columns:
            return name
    for name, dtype in items.schema.items():
        if isinstance(dtype, pl.List) and dtype.inner in (pl.Utf8, pl.Categorical):
            return name
    return None


def category_matrix(items: pl.DataFrame, column: str, n_items: int) -> tuple[sp.csr_matrix, list[str]]:
    """Multi-hot ``(n_items, G)`` CSR of ``column`` (a string or list-of-strings column), and names.

    Items missing from the table, or with a null / empty value, get an empty row.
    """
    if column not in items.columns:
        raise ValueError(f"items table has no column {column!r}; it has {items.columns}")
    frame = items.select(pl.col(Columns.Item), pl.col(column).alias("__cat"))
    if isinstance(frame.schema["__cat"], pl.List):
        frame = frame.explode("__cat")
    frame = frame.with_columns(pl.col("__cat").cast(pl.Utf8)).drop_nulls().filter(pl.col("__cat") != "").unique()
    names = sorted(frame["__cat"].unique().to_list())
    cols = frame["__cat"].cast(pl.Enum(names)).to_physical().to_numpy().astype(np.int64)
    rows = frame[Columns.Item].to_numpy().astype(np.int64)
    keep = (rows >= 0) & (rows < n_items)
    m = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n_items, len(names)))
    m.sum_duplicates()
    return m, names
