"""Full-ranking evaluation of a fitted model against held-out interactions.

Every item in the catalogue competes for every user (no sampled negatives), so the numbers are
comparable with the literature's "full ranking" protocol and not inflated by easy negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.evaluation.metrics import hit_matrix, mean_metrics, per_user_metrics, validate_ks
from recsmith.models.base import Recommender
from recsmith.utils.progress import track


def evaluate(
    model: Recommender,
    target: Interactions,
    ks: Sequence[int] = (5, 10, 20),
    *,
    filter_seen: bool = True,
    exclude: sp.csr_matrix | None = None,
    batch_size: int | None = 1024,
    users: np.ndarray | Sequence[int] | None = None,
    return_per_user: bool = False,
    return_lists: bool = False,
    workers: int = 1,
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

    Memory (streaming): users are recommended ``batch_size`` at a time and only each chunk's top
    ``max(ks)`` is kept, so a full users x items score matrix never exists. A chunk costs about
    ``17 * batch_size * n_items`` bytes inside :meth:`Recommender.recommend` (float32 scores, the
    negated copy ``argpartition`` sorts, its int64 result, a tie mask); ``batch_size=None`` picks
    the chunk from :func:`auto_batch_size` so that this stays near 256 MiB whatever the catalogue.
    The kept state is ``n_users * max(ks)`` booleans (plus int32 item ids with ``return_lists``).

    Parallelism: ``workers > 1`` recommends that many chunks at once in threads (NumPy's
    partitioning and BLAS release the GIL), with BLAS limited to one thread each; memory grows
    ``workers``-fold (``batch_size=None`` divides the budget among them). The model is only read,
    so this is safe for models whose ``_score`` has no side effects, which the contract requires.

    Args:
        model: a fitted recommender over the same id spaces as ``target``.
        target: held-out interactions (internal ids).
        ks: cutoffs; lists of length ``max(ks)`` are requested.
        filter_seen, exclude, batch_size: passed to :meth:`Recommender.recommend`
            (``batch_size=None``: :func:`auto_batch_size`).
        users: optional internal user ids to restrict the evaluation to.
        return_per_user: also return ``"per_user"``: a dict with ``"user"`` (int64 ``(n,)``, sorted)
            and one float64 ``(n,)`` array per metric key, aligned with it.
        return_lists: also return ``"lists"``: int32 ``(n, max(ks))``, each evaluated user's
            recommended items best first (``-1`` pads short lists), rows aligned with ``per_user``.
        workers: chunks recommended concurrently (threads); 1 = sequential.

    Returns:
        ``{"recall@5": float, ..., "n_users": int}`` (keys ordered by metric, then k); metric
        values are ``nan`` when no user qualifies.
    """
    try:
        ks = validate_ks(ks)
    except ValueError as err:
        raise RecsmithError(str(err)) from None
    if workers < 1:
        raise RecsmithError(f"workers must be at least 1, got {workers}")
    if batch_size is None:
        batch_size = auto_batch_size(model.n_items, (256 << 20) // workers)
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
    lists = np.full((eval_users.size, k_max) if return_lists else (0, 0), -1, dtype=np.int32)
    n_batches = -(-eval_users.size // batch_size)
    starts = range(0, eval_users.size, batch_size)

    def run_chunk(start: int) -> None:
        # each chunk writes its own rows of the preallocated outputs: no ordering between threads
        batch = eval_users[start : start + batch_size]
        recs, _ = model.recommend(batch, k_max, filter_seen=filter_seen, exclude=exclude, batch_size=batch_size)
        h, n_rel = hit_matrix(recs, relevant[batch])
        hits[start : start + batch.size] = h
        n_relevant[start : start + batch.size] = n_rel
        if return_lists:
            lists[start : start + batch.size] = recs

    if workers == 1:
        for start in track(starts, "evaluating", total=n_batches):
            run_chunk(start)
    else:
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            done = pool.map(run_chunk, starts)
            for _ in track(done, "evaluating", total=n_batches):
                pass

    per_user = _per_user_in_blocks(hits, n_relevant, ks)
    result: dict[str, Any] = {**mean_metrics(per_user), "n_users": int(eval_users.size)}
    if return_per_user:
        result["per_user"] = {"user": eval_users, **per_user}
    if return_lists:
        result["lists"] = lists
    return result


def auto_batch_size(n_items: int, budget_bytes: int = 256 << 20) -> int:
    """Users per chunk so that one chunk's scoring and top-k take about ``budget_bytes``.

    ``Recommender.recommend`` holds about 17 bytes per (user, item) cell of a chunk; the result
    is clipped to ``[1, 4096]``. For 100k items that is 157 users (~270 MB peak per chunk).
    """
    return int(min(4096, max(1, budget_bytes // (17 * max(n_items, 1)))))


def _per_user_in_blocks(
    hits: np.ndarray, n_relevant: np.ndarray, ks: list[int], block: int = 65_536
) -> dict[str, np.ndarray]:
    """:func:`per_user_metrics` over row blocks: its float64 ``(n, max(ks))`` temporaries would
    otherwise cost about 1 GB at a million users."""
    out: dict[str, np.ndarray] = {}
    for start in range(0, max(hits.shape[0], 1), block):
        part = per_user_metrics(hits[start : start + block], n_relevant[start : start + block], ks)
        for key, values in part.items():
            out.setdefault(key, np.empty(hits.shape[0], dtype=np.float64))[start : start + values.size] = values
    return out


def _select_users(target: Interactions, users: np.ndarray | Sequence[int] | None) -> np.ndarray:
    """Sorted int64 users with target interactions, intersected with ``users`` when given."""
    present = target.users().astype(np.int64)
    if users is None:
        return present
    wanted = np.asarray(users, dtype=np.int64).ravel()
    if wanted.size and (wanted.min() < 0 or wanted.max() >= target.n_users):
        raise RecsmithError(f"user ids must lie in [0, {target.n_users})")
    return np.intersect1d(present, wanted)
