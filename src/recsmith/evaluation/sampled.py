"""Sampled-negatives evaluation, kept only to show how it misleads (see docs/evaluation.md).

The protocol of many papers (NCF and its followers): for each held-out (user, item) pair, draw
``n_negatives`` items the user never interacted with, rank the held-out item among those
``n_negatives + 1`` candidates and report HitRate@K / NDCG@K of that rank. Because the target
only has to beat 100 random items rather than the whole catalogue, the numbers are far higher,
and -- worse -- the *order* of models can change (Krichene & Rendle, KDD 2020). recsmith reports
full-ranking metrics everywhere else.

Here the sampled rank is read off the model's *full* ranking (ties broken by the lower item id,
as everywhere): ``rank = 1 + #{sampled negatives placed above the target}``. That costs one
``n_items``-long list per user, fine for demonstration-size catalogues.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import RecsmithError
from recsmith.models.base import Recommender


def evaluate_sampled(
    model: Recommender,
    train: Interactions,
    target: Interactions,
    ks: Sequence[int] = (10,),
    *,
    n_negatives: int = 100,
    seed: int = 0,
    filter_seen: bool = True,
    batch_size: int = 256,
) -> dict[str, float]:
    """HitRate@K and NDCG@K under the sampled-negatives protocol (module docstring).

    Negatives for a user are drawn uniformly, without replacement, from the items the user has
    neither in ``train`` (the data the model was fitted on) nor in ``target``. Every distinct (user, target item)
    pair is one case; the result averages over cases: ``{"hit@K", "ndcg@K", "n_cases"}``.
    """
    if n_negatives < 1:
        raise RecsmithError(f"n_negatives must be at least 1, got {n_negatives}")
    if not (model.n_users, model.n_items) == (train.n_users, train.n_items) == (target.n_users, target.n_items):
        raise RecsmithError("model and target cover different id spaces")
    rng = np.random.default_rng(seed)
    pairs = target.frame.select(Columns.User, Columns.Item).unique().sort(Columns.User, Columns.Item)
    case_users = pairs[Columns.User].to_numpy().astype(np.int64)
    case_items = pairs[Columns.Item].to_numpy().astype(np.int64)
    users = np.unique(case_users)
    known = sp.csr_matrix(train.binary + target.binary)
    n_items = model.n_items
    ranks = np.empty(case_users.size, dtype=np.int64)
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        order, _ = model.recommend(batch, n_items, filter_seen=filter_seen, batch_size=batch_size)
        # position of every item in each user's full ranking (unranked items go last)
        position = np.full((batch.size, n_items), n_items, dtype=np.int64)
        rows = np.broadcast_to(np.arange(batch.size)[:, None], order.shape)
        valid = order >= 0
        position[rows[valid], order[valid]] = np.broadcast_to(np.arange(n_items), order.shape)[valid]
        # negatives: a random permutation of each user's eligible items, first n_negatives kept
        noise = rng.random((batch.size, n_items))
        noise[known[batch].toarray() > 0] = np.inf
        if n_negatives < n_items:
            negatives = np.argpartition(noise, n_negatives - 1, axis=1)[:, :n_negatives]
        else:
            negatives = np.argsort(noise, axis=1)
        eligible = np.isfinite(np.take_along_axis(noise, negatives, axis=1))
        lo, hi = np.searchsorted(case_users, [batch[0], batch[-1] + 1])
        row = np.searchsorted(batch, case_users[lo:hi])
        target_pos = position[row, case_items[lo:hi]]
        neg_pos = np.take_along_axis(position, negatives, axis=1)[row]
        ranks[lo:hi] = 1 + ((neg_pos < target_pos[:, None]) & eligible[row]).sum(axis=1)
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit@{k}"] = float(np.mean(ranks <= k)) if ranks.size else float("nan")
    for k in ks:
        gain = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
        out[f"ndcg@{k}"] = float(gain.mean()) if ranks.size else float("nan")
    out["n_cases"] = int(ranks.size)
    return out
