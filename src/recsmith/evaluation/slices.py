"""Slices: subsets of the evaluation on which metrics are broken down.

A :class:`Slice` is either a set of *users* (their per-user metrics are averaged as usual) or a set
of *items* (each user's relevant set is cut down to the slice's items, users left with none are
dropped, and the metrics are recomputed from the stored lists). The standard slices, built from the
training data the models saw and the test data:

=====================  ============================================================================
slice                  members
=====================  ============================================================================
``cold-start users``   evaluated users with at most ``N`` training interactions (default 5; rows,
                       so repeats count)
``activity Qj``        evaluated users in the ``j``-th quantile of training interactions (Q1 = the
                       least active); bins are ``(e_{j-1}, e_j]`` of the quantiles ``e`` of the
                       evaluated users' counts, so equal counts share a bin and a bin may be empty
``new items``          test items with no training interaction: "first seen in the test period"
                       under a time split, items only seen in users' last positions under
                       leave-one-out
=====================  ============================================================================

Empty slices are kept (``n_users = 0``, metrics ``nan``) so that tables line up across runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.evaluation.metrics import METRIC_NAMES, hit_matrix, per_user_metrics


@dataclass(frozen=True)
class Slice:
    """A named subset: ``users`` (sorted int64 ids) for a user slice, ``items`` (bool over the
    catalogue) for an item slice."""

    name: str
    description: str
    users: np.ndarray | None = None
    items: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return "items" if self.items is not None else "users"


def training_counts(train: Interactions) -> np.ndarray:
    """Training interactions (rows) per user, int64 ``(n_users,)``."""
    return np.bincount(train.frame[Columns.User].to_numpy(), minlength=train.n_users).astype(np.int64)


def cold_start_users(train: Interactions, users: np.ndarray, max_interactions: int = 5) -> Slice:
    counts = training_counts(train)
    users = np.asarray(users, dtype=np.int64)
    return Slice(
        "cold-start users",
        f"users with at most {max_interactions} training interactions",
        users=np.sort(users[counts[users] <= max_interactions]),
    )


def activity_quantiles(train: Interactions, users: np.ndarray, n_quantiles: int = 4) -> list[Slice]:
    """One slice per quantile of the evaluated users' training-interaction counts."""
    users = np.asarray(users, dtype=np.int64)
    counts = training_counts(train)[users]
    if users.size == 0:
        return [Slice(f"activity Q{j + 1}", "no users", users=users) for j in range(n_quantiles)]
    edges = np.quantile(counts, np.arange(1, n_quantiles) / n_quantiles)
    bins = np.searchsorted(edges, counts, side="left")  # counts <= e_1 -> 0, (e_1, e_2] -> 1, ...
    out = []
    for j in range(n_quantiles):
        members = users[bins == j]
        c = counts[bins == j]
        span = f"{int(c.min())}-{int(c.max())}" if c.size else "none"
        out.append(Slice(f"activity Q{j + 1}", f"training interactions {span}", users=np.sort(members)))
    return out


def new_items(train: Interactions, test: Interactions) -> Slice:
    """Items that occur in ``test`` but never in ``train``."""
    in_train = np.zeros(train.n_items, dtype=bool)
    in_train[train.frame[Columns.Item].to_numpy()] = True
    in_test = np.zeros(test.n_items, dtype=bool)
    in_test[test.frame[Columns.Item].to_numpy()] = True
    items = in_test & ~in_train
    return Slice("new items", f"{int(items.sum())} test items without training interactions", items=items)


def standard_slices(
    train: Interactions, test: Interactions, users: np.ndarray, *, cold_start_max: int = 5, n_quantiles: int = 4
) -> list[Slice]:
    """Cold-start users, activity quantiles and new items (module docstring)."""
    return [
        cold_start_users(train, users, cold_start_max),
        *activity_quantiles(train, users, n_quantiles),
        new_items(train, test),
    ]


def slice_per_user(
    sl: Slice,
    users: np.ndarray,
    lists: np.ndarray,
    relevant: sp.csr_matrix,
    ks: Sequence[int],
    names: Sequence[str] = METRIC_NAMES,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-user metrics on slice ``sl``: ``(slice users, {metric: values})``.

    Args:
        users: sorted evaluated user ids, aligned with the rows of ``lists``.
        lists: ``(n, K)`` recommended items.
        relevant: ``(n_users, n_items)`` test items per user (indexed by user id).
    """
    users = np.asarray(users, dtype=np.int64)
    rel = sp.csr_matrix(relevant[users])
    if sl.items is not None:
        rel = sp.csr_matrix(rel @ sp.diags(sl.items.astype(np.float64)))
        rel.eliminate_zeros()
        rows = np.flatnonzero(np.diff(rel.indptr) > 0)
    elif sl.users is not None:
        rows = np.flatnonzero(np.isin(users, sl.users))
    else:
        raise ValueError(f"slice {sl.name!r} names neither users nor items")
    if rows.size == 0:
        return users[rows], {f"{n}@{k}": np.empty(0) for n in names for k in ks}
    hits, n_rel = hit_matrix(np.asarray(lists)[rows], rel[rows])
    return users[rows], per_user_metrics(hits, n_rel, ks, names)
