"""Models that recommend for any history, not only for users seen in training.

A :class:`SessionRecommender` scores arbitrary lists of internal item ids (oldest first): an anonymous
session, or a known user's history plus events that arrived after training (what the service's
feedback endpoint adds). It is the ``sessions`` ability (:mod:`recsmith.models.abilities`); the
sequential models and TIGER declare it, and serving picks them up through it
(``recsmith.serving.online.scorer_for``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from recsmith.errors import RecsmithError
from recsmith.models.abilities import Ability
from recsmith.models.base import top_k

Sessions = Sequence[Sequence[int]] | Sequence[np.ndarray]


class SessionRecommender(Ability):
    """The ``sessions`` ability: scores of the next item after any history. Implement
    :meth:`session_scores` and :meth:`training_history`.

    Contract: the session scores of a user's own :meth:`training_history` (with ``users=[user]``) are
    the user's scores (``Recommender.scores``), so a history extended by new events is scored as if
    they had been in the training data. (Models with time features also read the items'
    ``timestamps``; without them those features see time 0.)
    """

    ability = "sessions"
    purpose = "anonymous sessions: recommends from a list of items, no user id needed"

    @abstractmethod
    def session_scores(
        self, sessions: Sessions, *, users: Sequence[int] | None = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """``(len(sessions), n_items)`` float32 scores of the next item after each history.

        ``users``: the internal id of each session's user, ``-1`` (or no list at all) for an anonymous
        session; models with a user input read it, the others ignore it. ``timestamps``: seconds of
        each session item, for models with time features.
        """

    @abstractmethod
    def training_history(self, user: int) -> np.ndarray:
        """The training history the model reads for ``user``: int64 internal item ids, oldest first
        (at least the most recent items that scoring reads)."""

    def recommend_sessions(
        self,
        sessions: Sessions,
        k: int = 10,
        *,
        filter_seen: bool = True,
        users: Sequence[int] | None = None,
        timestamps: list[list[int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for arbitrary histories (internal item ids, oldest first), e.g. anonymous sessions.

        ``filter_seen`` removes each session's own items. Returns ``(items, scores)``, both ``(n, k)``;
        ``-1`` / ``-inf`` where a model lists fewer than ``k`` items.
        """
        lists = session_lists(sessions, self.n_items)
        scores = self.session_scores(lists, users=users, timestamps=timestamps)
        if filter_seen:
            for i, s in enumerate(lists):
                scores[i, s] = -np.inf
        items, top = top_k(scores, min(k, self.n_items))
        items[~np.isfinite(top)] = -1
        return items, top


def session_lists(sessions: Sessions, n_items: int) -> list[np.ndarray]:
    """Each session as an int64 array, checked against the catalogue."""
    lists = [np.asarray(s, dtype=np.int64).ravel() for s in sessions]
    for i, s in enumerate(lists):
        if s.size and (s.min() < 0 or s.max() >= n_items):
            raise RecsmithError(f"session {i}: item ids must lie in [0, {n_items})")
    return lists


def session_csr(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, items)``: the sessions as CSR arrays, as :func:`recsmith.data.histories.window_gather` reads them."""
    lengths = np.array([len(s) for s in lists], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return offsets, (np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, dtype=np.int64))


def session_users(users: Sequence[int] | None, n_sessions: int) -> np.ndarray:
    """``users`` as int64 (``-1`` = anonymous), all anonymous when not given."""
    if users is None:
        return np.full(n_sessions, -1, dtype=np.int64)
    out = np.asarray(users, dtype=np.int64).ravel()
    if len(out) != n_sessions:
        raise RecsmithError(f"{len(out)} users for {n_sessions} sessions: give one user id (or -1) per session")
    return out
