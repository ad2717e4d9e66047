"""Full-ranking evaluation of a fitted model against held-out interactions.

Every item in the catalogue competes for every user (no sampled negatives), so the numbers are
comparable with the literature's "full ranking" protocol and not inflated by easy negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.evaluation.metrics import validate_ks, hit_matrix, mean_metrics, per_user_metrics
from recsmith.models.base import Recommender
from recsmith.utils.progress import track


def evaluate(
    model: Recommender,
    target: Interactions,
    ks: Sequence[int] = (5, 10, 20),
    *,
    filter_seen: bool = True,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 1024,
    users: np.ndarray | Sequence[int] | None = None,
    return_per_user: bool = False,
) -> dict[str, Any]:
    """Score ``model``'s top-``max(ks)`` lists against ``target`` (see :mod:`.metrics` for formulas).

    Who is evaluated: the users with at least one interaction in ``target``; if ``users`` is given,
    only those of them that are also in ``users`` (ids in ``users`` without target interactions are
    dropped, since their metrics are undefined). Each user's relevant set is the *distinct* items
    of that user in ``target`` (weights and repeats are ignored).

    Seen items: with ``filter_seen=True`` the model removes the items each user interacted with in
    the data it was *fitted* on, the standard protocol for "recommend something new". Consequence
    for repeat consumption: a target item the user also had in training can never be recommended,
    so it can never be hit, yet it still counts in ``|relevant|`` and lowers recall/NDCG. On data
    where users re-buy or re-watch, either evaluate with ``filter_seen=False`` or drop such items
    from ``target`` first, and say which. ``exclude`` (an ``(n_users, n_items)`` sparse matrix of
    further items to remove per user, indexed by internal user id) is passed to the model unchanged.

    Memory: users are recommended ``batch_size`` at a time, so scores take about
    ``batch_size * n_items`` floats; the kept state is ``n_users * max(ks)`` booleans.

    Args:
        model: a fitted recommender over the same id spaces as ``target``.
        target: held-out interactions (internal ids).
        ks: cutoffs; lists of length ``max(ks)`` are requested.
        filter_seen, exclude, batch_size: passed to :meth:`Recommender.recommend`.
        users: optional internal user ids to restrict the evaluation to.
        return_per_user: also return ``"per_user"``: a dict with ``"user"`` (int64 ``(n,)``, sorted)
            and one float64 ``(n,)`` array per metric key, aligned with it.

    Returns:
        ``{"recall@5": float, ..., "n_users": int}`` (keys ordered by metric, then k); metric
        values are ``nan`` when no user qualifies.
    """
    try:
        ks = validate_ks(ks)
    except ValueError as err:
        raise RecsmithError(str(err)) from None
    if batch_size < 1:
        raise RecsmithError(f"batch_size must be at least 1, got {batch_size}")
    if (model.n_users, model.n_items) != (target.n_users, target.n_items):
        raise RecsmithError(
            f"model covers {model.n_users} users x {model.n_items} items but the target covers "
            f"{target.n_users} x {target.n_items}: were they prepared from the same dataset?"
        )
    eval_users = _select_users(target, users)
    relevant = target.binary  # distinct target items per user, as stored entries
    k_max = max(ks)

    hits = np.zeros((eval_users.size, k_max), dtype=bool)
    n_relevant = np.zeros(eval_users.size, dtype=np.int64)
    n_batches = -(-eval_users.size // batch_size)
    starts = range(0, eval_users.size, batch_size)
    for start in track(starts, "evaluating", total=n_batches):
        batch = eval_users[start : start + batch_size]
        recs, _ = model.recommend(
            batch, k_max, filter_seen=filter_seen, exclude=exclude, batch_size=batch_size
        )
        h, n_rel = hit_matrix(recs, relevant[batch])
        hits[start : start + batch.size] = h
        n_relevant[start : start + batch.size] = n_rel

    per_user = per_user_metrics(hits, n_relevant, ks)
    result: dict[str, Any] = {**mean_metrics(per_user), "n_users": int(eval_users.size)}
    if return_per_user:
        result["per_user"] = {"user": eval_users, **per_user}
    return result


def _select_users(target: Interactions, users: np.ndarray | Sequence[int] | None) -> np.ndarray:
    """Sorted int64 users with target interactions, intersected with ``users`` when given."""
    present = target.users().astype(np.int64)
    if users is None:
        return present
    wanted = np.asarray(users, dtype=np.int64).ravel()
    if wanted.size and (wanted.min() < 0 or wanted.max() >= target.n_users):
        raise RecsmithError(f"user ids must lie in [0, {target.n_users})")
    return np.intersect1d(present, wanted)
