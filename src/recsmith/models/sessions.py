"""Models that recommend for any history, not only for users seen in training.

A :class:`SessionRecommender` scores arbitrary lists of internal item ids (oldest first): an anonymous
session, or a known user's history plus events that arrived after training (what the service's
feedback endpoint adds). It is the ``sessions`` ability (:mod:`recsmith.models.abilities`); the
sequential models, two_tower, TIGER and two_stage declare it, and serving picks them up through it
(``recsmith.serving.online.scorer_for``).

Two refinements say *how* a history is scored, so that a service can keep a known user's state
instead of running the network on every request:

* :class:`QueryVectors` (``query_vectors``; sasrec, bert4rec, gru4rec, two_tower): the scores are
  inner products of one query vector per history with a fixed output vector per item. A user's
  state is that vector: computed once (at export, and again after new events), then every request
  is a lookup plus an inner-product (FAISS) search, as for a factor model.
* :class:`SessionLists` (``session_lists``; tiger, two_stage): a history's own scores are on a short
  list of items only (TIGER's beam; two_stage's ranked candidates, every other item in a fixed
  fallback order below them), so a user's state is that list of at most
  :meth:`~SessionLists.list_size` items and their scores. Neither beam search nor a ranker over
  candidates is an inner product: this is the state that can be kept.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsmith.errors import RecsmithError
from recsmith.models.abilities import Ability
from recsmith.models.base import top_k

Sessions = Sequence[Sequence[int]] | Sequence[np.ndarray]
#: users whose dense scores :meth:`SessionLists.user_lists` holds at once (bounds its memory)
LIST_BLOCK = 1024


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


@dataclass(frozen=True)
class QueryEncoder:
    """What :meth:`QueryVectors.query_vectors` runs, for another runtime (the service runs it with ONNX
    Runtime): ``module(**inputs(sessions, users))`` (torch tensors of the arrays) gives the ``(n, d)``
    query vectors.

    Attributes:
        module: a ``torch.nn.Module`` in eval mode whose keyword arguments are the input names.
        inputs: ``(sessions, users)`` -> the module's inputs as named int64 / float32 numpy arrays.
        axes: the variable axes of each input (``{"tokens": {0: "batch", 1: "length"}}``).
    """

    module: Any
    inputs: Callable[[Sessions, Sequence[int] | None], dict[str, np.ndarray]]
    axes: dict[str, dict[int, str]]


class QueryVectors(SessionRecommender):
    """The ``query_vectors`` ability: scores of any history are inner products of a query vector
    with fixed output item vectors::

        session_scores(sessions, users) = query_vectors(sessions, users) @ output_item_vectors().T
        scores(users)                   = user_query_vectors(users) @ output_item_vectors().T

    (the network's output for the history, e.g. a transformer's final hidden state, against the
    tied item embeddings; any positive scale such as two_tower's ``1 / temperature`` is folded into
    the queries, so the inner products *are* the scores). Implement :meth:`query_vectors` and
    :meth:`output_item_vectors`; :meth:`user_query_vectors` defaults to the queries of the users'
    :meth:`training_history`, and :meth:`session_scores` to the inner products above.
    """

    ability = "query_vectors"
    purpose = "a history is one query vector: bundles store known users' vectors, served like factors"

    @abstractmethod
    def query_vectors(
        self, sessions: Sessions, *, users: Sequence[int] | None = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """``(len(sessions), d)`` float32 query vectors of histories (internal item ids, oldest first);
        ``users`` and ``timestamps`` as in :meth:`session_scores`."""

    @abstractmethod
    def output_item_vectors(self) -> np.ndarray:
        """``(n_items, d)`` float32 output item vectors (may be a read-only view of model state)."""

    def query_encoder(self) -> QueryEncoder | None:
        """The network part of :meth:`query_vectors` as a module a runtime can export (ONNX), or None
        when it does not export. Default: None."""
        return None

    def user_query_vectors(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """``(len(users), d)`` float32 query vectors of known users' training histories (all users for
        None): what :meth:`~recsmith.models.base.Recommender.scores` ranks with."""
        self._check_fitted()
        users = np.arange(self.n_users) if users is None else self._checked_users(users)
        return self.query_vectors([self.training_history(int(u)) for u in users], users=users.tolist())

    def session_scores(
        self, sessions: Sessions, *, users: Sequence[int] | None = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """``(len(sessions), n_items)`` float32: ``query_vectors(sessions) @ output_item_vectors().T``."""
        queries = self.query_vectors(sessions, users=users, timestamps=timestamps)
        return np.ascontiguousarray(queries @ self.output_item_vectors().T, dtype=np.float32)


class SessionLists(SessionRecommender):
    """The ``session_lists`` ability: a history's own scores are on at most :meth:`list_size` items
    (generative retrieval: the items a beam search produced; two_stage: the ranked candidates);
    every other item gets :meth:`unlisted_scores` -- ``-inf`` (never recommended) by default, or a
    fixed per-item order below every list (two_stage's popularity fallback).

    :meth:`session_lists` is :meth:`session_scores` in that sparse form, :meth:`user_lists` the
    same for known users' training histories (what ``scores(users)`` gives). Implement
    :meth:`list_size` (and :meth:`unlisted_scores` where it is not ``-inf``); the list methods
    default to the top :meth:`list_size` of the dense scores.
    """

    ability = "session_lists"
    purpose = "a history scores a short list (a beam, ranked candidates): bundles store known users' lists"

    @abstractmethod
    def list_size(self) -> int:
        """The most items a history's own scores are on (finite, or above :meth:`unlisted_scores`)."""

    def unlisted_scores(self) -> np.ndarray | None:
        """``(n_items,)`` float32 scores of the items outside a history's list, the same for every
        history and below every listed score; None: ``-inf`` (never recommended). Default: None."""
        return None

    def session_lists(self, sessions: Sessions, *, users: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(items, scores)``, both ``(len(sessions), list_size())``: the listed items of each
        history, best first (ties: lower id), padded with ``-1`` / ``-inf``."""
        return self._finite_lists(self.session_scores(sessions, users=users))

    def user_lists(self, users: np.ndarray | Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`session_lists` of known users' training histories (all users for None)."""
        self._check_fitted()
        users = np.arange(self.n_users) if users is None else self._checked_users(users)
        size = min(self.list_size(), self.n_items)
        items = np.full((users.size, size), -1, dtype=np.int64)
        scores = np.full((users.size, size), -np.inf, dtype=np.float32)
        for start in range(0, users.size, LIST_BLOCK):  # dense scores of a block at a time
            block = slice(start, start + LIST_BLOCK)
            items[block], scores[block] = self._finite_lists(self.scores(users[block]))
        return items, scores

    def _finite_lists(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        items, top = top_k(scores, min(self.list_size(), self.n_items))
        items[~np.isfinite(top)] = -1
        return items, top
