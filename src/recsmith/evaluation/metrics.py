"""Top-K ranking metrics with binary relevance, vectorised over users.

Notation, for one user: ``rel_i`` is 1 if the item at 1-based position ``i`` of the ranked list is
relevant (else 0), ``R`` is the number of distinct relevant items (``R >= 1``) and
``hits@K = sum_{i<=K} rel_i``. Positions past the end of a short (or ``-1``-padded) list are misses,
so ``K`` may exceed the list length.

=================  =================================================================================
key                formula
=================  =================================================================================
``recall@K``       ``hits@K / R``
``precision@K``    ``hits@K / K``  (always divided by ``K``, even when the list is shorter)
``ndcg@K``         ``DCG@K / IDCG@K`` with ``DCG@K = sum_{i<=K} rel_i / log2(i + 1)`` and
                   ``IDCG@K = sum_{i<=min(R, K)} 1 / log2(i + 1)``
``mrr@K``          ``1 / i*`` for the position ``i*`` of the first hit if ``i* <= K``, else 0
``hit@K``          ``1`` if ``hits@K > 0`` else ``0`` (hit rate)
``map@K``          ``sum_{i<=K} P@i * rel_i / min(R, K)`` with ``P@i = hits@i / i``
                   (the Kaggle H&M "MAP@12" definition)
=================  =================================================================================

Two variants are available by name but not computed by default, for comparison with other
tools (``per_user_metrics(..., names=ALL_METRIC_NAMES)``):

=====================  ===========================================================================
``recall_capped@K``    ``hits@K / min(R, K)`` (reaches 1 whenever the list is as good as it can be)
``map_trec@K``         ``sum_{i<=K} P@i * rel_i / R`` (trec_eval / pytrec_eval ``map_cut_K``)
=====================  ===========================================================================

``mean_metrics`` averages each per-user array with equal weight per user.

A user with ``R = 0`` has undefined recall / NDCG / MAP; :func:`per_user_metrics` refuses such users
(``ValueError``) rather than silently scoring them 0 or dividing by zero: the caller decides whether
they are dropped or scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

#: metric names, in output order; keys are ``f"{name}@{k}"``
METRIC_NAMES: tuple[str, ...] = ("recall", "precision", "ndcg", "mrr", "hit", "map")
#: every metric :func:`per_user_metrics` knows: the defaults, then the variants (module docstring)
ALL_METRIC_NAMES: tuple[str, ...] = (*METRIC_NAMES, "recall_capped", "map_trec")


def hit_matrix(
    recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray | Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Which recommended items are relevant.

    Args:
        recommended: ``(n, K)`` int item ids, best first; negative ids (``-1`` padding) never hit.
        relevant: either a sparse ``(n, n_items)`` matrix whose row ``u`` stores user ``u``'s
            relevant items (stored entries count, whatever their value), or a length-``n`` sequence
            of int arrays (duplicates allowed).

    Returns:
        ``(hits, n_relevant)``: ``hits`` bool ``(n, K)``; ``n_relevant`` int64 ``(n,)``, the number
        of *distinct* relevant items. An item recommended twice in a row counts once, at its first
        position; the later copy is a miss.
    """
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (n, K), got shape {rec.shape}")
    rec = rec.astype(np.int64, copy=False)
    n = rec.shape[0]
    rel_rows, rel_items, n_relevant, width = _relevant_pairs(relevant, n)
    width = max(width, int(rec.max(initial=-1)) + 1, 1)
    # Encode (row, item) pairs as one int64 key so membership is a single sorted search.
    rel_keys = np.unique(rel_rows * width + rel_items)
    valid = rec >= 0
    rec_keys = np.arange(n, dtype=np.int64)[:, None] * width + np.where(valid, rec, 0)
    pos = np.searchsorted(rel_keys, rec_keys)
    if rel_keys.size:
        found = rel_keys[np.minimum(pos, rel_keys.size - 1)] == rec_keys
    else:
        found = np.zeros_like(valid)
    hits = found & valid & ~_later_duplicates(rec)
    return hits, n_relevant


def _relevant_pairs(
    relevant: sp.spmatrix | sp.sparray | Sequence[np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Flatten ``relevant`` to distinct (row, item) pairs; also per-row counts and an id bound."""
    if sp.issparse(relevant):
        m = sp.csr_matrix(relevant, copy=True)
        if m.shape[0] != n:
            raise ValueError(f"relevant has {m.shape[0]} rows but recommended has {n}")
        m.sum_duplicates()  # canonical: sorted, no duplicate (row, col)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr))
        return rows, m.indices.astype(np.int64), np.diff(m.indptr).astype(np.int64), int(m.shape[1])
    if len(relevant) != n:
        raise ValueError(f"relevant has {len(relevant)} rows but recommended has {n}")
    arrays = [np.unique(np.asarray(a, dtype=np.int64).ravel()) for a in relevant]
    counts = np.array([a.size for a in arrays], dtype=np.int64)
    items = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
    if items.size and items.min() < 0:
        raise ValueError("relevant item ids must be non-negative")
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    return rows, items, counts, int(items.max(initial=-1)) + 1


def _later_duplicates(rec: np.ndarray) -> np.ndarray:
    """``(n, K)`` bool: True where the item already appeared earlier in the same row."""
    if rec.shape[1] < 2:
        return np.zeros(rec.shape, dtype=bool)
    order = np.argsort(rec, axis=1, kind="stable")  # stable: the first copy comes first
    srt = np.take_along_axis(rec, order, axis=1)
    dup_sorted = np.zeros(rec.shape, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.zeros(rec.shape, dtype=bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


def per_user_metrics(
    hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int], names: Sequence[str] = METRIC_NAMES
) -> dict[str, np.ndarray]:
    """Every metric of ``names`` (default :data:`METRIC_NAMES`) at every ``k`` in ``ks``, per user.

    Args:
        hits: bool ``(n, K)``, ``hits[u, i]`` true if position ``i + 1`` of user ``u``'s list is
            relevant (as from :func:`hit_matrix`). ``k > K`` is allowed: missing positions miss.
        n_relevant: int ``(n,)``, distinct relevant items per user; all must be ``>= 1``.
        ks: cutoffs, each ``>= 1``.
        names: metric names, a subset of :data:`ALL_METRIC_NAMES`, in output order.

    Returns:
        ``{"recall@10": float64 (n,), ...}``, ordered by metric name, then by ``k`` as given.
    """
    unknown = [name for name in names if name not in ALL_METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(ALL_METRIC_NAMES)}")
    hits = np.asarray(hits, dtype=bool)
    n_rel = np.asarray(n_relevant, dtype=np.int64).ravel()
    ks = validate_ks(ks)
    if hits.ndim != 2 or hits.shape[0] != n_rel.size:
        raise ValueError(f"hits must be (n, K) with n = len(n_relevant); got {hits.shape} and {n_rel.size}")
    if n_rel.size and n_rel.min() < 1:
        bad = int(np.count_nonzero(n_rel < 1))
        raise ValueError(f"{bad} user(s) have no relevant items; drop them before computing metrics")
    n, width = hits.shape[0], max(ks)
    h = np.zeros((n, width), dtype=np.float64)
    h[:, : min(width, hits.shape[1])] = hits[:, :width]

    positions = np.arange(1, width + 1, dtype=np.float64)
    discount = 1.0 / np.log2(positions + 1.0)
    cum_hits = np.cumsum(h, axis=1)  # hits@i for i = 1..width
    cum_dcg = np.cumsum(h * discount, axis=1)
    cum_idcg = np.cumsum(discount)
    cum_ap = np.cumsum(h * (cum_hits / positions), axis=1)  # sum_{j<=i} P@j * rel_j
    any_hit = h.any(axis=1)
    first = np.where(any_hit, h.argmax(axis=1) + 1, width + 1)  # 1-based first-hit position

    out: dict[str, np.ndarray] = {}
    for name in names:
        for k in ks:
            hk = cum_hits[:, k - 1]
            if name == "recall":
                v = hk / n_rel
            elif name == "recall_capped":
                v = hk / np.minimum(n_rel, k)
            elif name == "map_trec":
                v = cum_ap[:, k - 1] / n_rel
            elif name == "precision":
                v = hk / k
            elif name == "ndcg":
                v = cum_dcg[:, k - 1] / cum_idcg[np.minimum(n_rel, k) - 1]
            elif name == "mrr":
                v = np.where(first <= k, 1.0 / first, 0.0)
            elif name == "hit":
                v = (hk > 0).astype(np.float64)
            else:  # map
                v = cum_ap[:, k - 1] / np.minimum(n_rel, k)
            out[f"{name}@{k}"] = v
    return out


def mean_metrics(per_user: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Average each per-user array (equal weight per user); ``nan`` when there are no users."""
    return {key: float(np.mean(v)) if np.size(v) else float("nan") for key, v in per_user.items()}


def validate_ks(ks: int | Sequence[int]) -> list[int]:
    """Cutoffs as a list of distinct positive ints (order kept); ValueError otherwise."""
    ks = [ks] if isinstance(ks, int | np.integer) else list(ks)
    if not ks:
        raise ValueError("ks must name at least one cutoff")
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r}")
        out.append(int(k))
    return list(dict.fromkeys(out))  # drop repeated cutoffs, keep order
