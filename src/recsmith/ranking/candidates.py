"""The union of the sources' proposals, with each source's score and rank as features, and the
candidate recall that caps what any ranker can reach.

:func:`candidates` builds, for a batch of users, one row per distinct (user, item) that at least
one source proposed::

    user  item  <source>:score  <source>:rank  ...   (one pair of columns per source)

``score`` is the source's score of that item for that user whether or not the source proposed it
(null where the source cannot score it at all, e.g. an item the user never bought for
``repurchase``); ``rank`` is the 1-based position in the source's own top-n (null when the source
did not propose it). With ``max_per_user`` the union is cut to the candidates with the best rank in
any source (ties: the lower item id). Rows are sorted by (user, item).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsmith.data.schema import Columns
from recsmith.ranking.sources import Context, Source


def feature_names(sources: Sequence[Source]) -> list[str]:
    return [f"{s.name}:{what}" for s in sources for what in ("score", "rank")]


def candidates(
    sources: Sequence[Source],
    users: np.ndarray,
    ctx: Context,
    *,
    exclude: sp.csr_matrix | None = None,
    max_per_user: int | None = None,
    proposals: dict[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """The candidate rows of ``users`` (see the module docstring).

    Args:
        exclude: ``(len(users), n_items)`` items no source may propose (e.g. the users' own).
        proposals: if given, filled with each source's ``(len(users), n)`` proposals (for recall).
    """
    users = np.asarray(users, dtype=np.int64)
    n_items = ctx.histories.n_items
    dense: dict[str, np.ndarray] = {}
    keys: dict[str, np.ndarray] = {}
    for source in sources:
        scores = source.scores(users, ctx)
        masked = scores
        if exclude is not None and exclude.nnz:
            masked = scores.copy()
            ex = exclude.tocoo()
            masked[ex.row, ex.col] = -np.inf
        top = source.propose(users, masked, source.spec.n, ctx)
        if proposals is not None:
            proposals[source.name] = top
        rows = np.repeat(np.arange(len(users)), top.shape[1])
        flat = top.ravel()
        ok = flat >= 0
        keys[source.name] = rows[ok] * n_items + flat[ok]  # in rank order within each row
        dense[source.name] = scores
    union = np.unique(np.concatenate(list(keys.values()))) if keys else np.empty(0, np.int64)
    columns: dict[str, np.ndarray] = {}
    best = np.full(len(union), np.inf)
    for source in sources:
        rank = _ranks_of(keys[source.name], union, n_items)
        best = np.fmin(best, rank)
        values = dense[source.name].reshape(-1)[union]
        columns[f"{source.name}:score"] = np.where(np.isfinite(values), values, np.nan).astype(np.float32)
        columns[f"{source.name}:rank"] = rank.astype(np.float32)
    row, item = union // n_items, union % n_items
    if max_per_user is not None and len(union):
        keep = _best_per_row(row, best, item, max_per_user)
        row, item = row[keep], item[keep]
        columns = {k: v[keep] for k, v in columns.items()}
    frame = {Columns.User: users[row].astype(np.int32), Columns.Item: item.astype(np.int32), **columns}
    return pl.DataFrame(frame)


def _ranks_of(keys: np.ndarray, union: np.ndarray, n_items: int) -> np.ndarray:
    """1-based rank of each union key in the source's proposals (NaN where it did not propose it)."""
    rows = keys // n_items
    starts = np.searchsorted(rows, rows, side="left")  # keys are grouped by row, in rank order
    rank = (np.arange(len(keys)) - starts + 1).astype(np.float64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    pos = np.searchsorted(sorted_keys, union)
    pos = np.minimum(pos, max(len(sorted_keys) - 1, 0))
    found = len(sorted_keys) > 0
    hit = sorted_keys[pos] == union if found else np.zeros(len(union), dtype=bool)
    out = np.full(len(union), np.nan)
    out[hit] = rank[order][pos[hit]]
    return out


def _best_per_row(row: np.ndarray, best: np.ndarray, item: np.ndarray, cap: int) -> np.ndarray:
    """Mask of each row's ``cap`` candidates with the smallest best rank (ties: lower item id)."""
    order = np.lexsort((item, best, row))
    sorted_rows = row[order]
    starts = np.searchsorted(sorted_rows, sorted_rows, side="left")
    keep = np.zeros(len(row), dtype=bool)
    keep[order[(np.arange(len(row)) - starts) < cap]] = True
    return keep


# ---------------------------------------------------------------------- candidate recall
def recall_report(
    truth: sp.csr_matrix, users: np.ndarray, proposals: dict[str, np.ndarray], union: pl.DataFrame
) -> dict[str, dict[str, float]]:
    """Candidate recall of each source and of the union: per user, the share of their relevant items
    (``truth`` rows, one per user of ``users``) that were proposed, averaged over users with at least
    one relevant item; with the mean number of candidates per user."""
    relevant = truth[users]
    n_rel = np.diff(relevant.indptr)
    has = n_rel > 0
    out: dict[str, dict[str, float]] = {}
    for name, top in proposals.items():
        out[name] = _recall(relevant, top, n_rel, has)
    position = np.full(int(users.max()) + 1 if len(users) else 0, -1, dtype=np.int64)
    position[users] = np.arange(len(users))
    rows = position[union[Columns.User].to_numpy()] if len(union) else np.empty(0, np.int64)
    union_items = sp.csr_matrix(
        (np.ones(len(rows)), (rows, union[Columns.Item].to_numpy())), shape=(len(users), truth.shape[1])
    )
    hits = np.asarray(relevant.multiply(union_items).astype(bool).sum(axis=1)).ravel()
    out["union"] = {
        "recall": float((hits[has] / n_rel[has]).mean()) if has.any() else float("nan"),
        "candidates_per_user": float(len(union) / max(len(users), 1)),
        "users": int(has.sum()),
    }
    return out


def _recall(relevant: sp.csr_matrix, top: np.ndarray, n_rel: np.ndarray, has: np.ndarray) -> dict[str, float]:
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    flat = top.ravel()
    ok = flat >= 0
    proposed = sp.csr_matrix((np.ones(ok.sum()), (rows[ok], flat[ok])), shape=relevant.shape)
    hits = np.asarray(relevant.multiply(proposed).astype(bool).sum(axis=1)).ravel()
    return {
        "n": int(top.shape[1]),
        "recall": float((hits[has] / n_rel[has]).mean()) if has.any() else float("nan"),
        "candidates_per_user": float(ok.sum() / max(top.shape[0], 1)),
    }
