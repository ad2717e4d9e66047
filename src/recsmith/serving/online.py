"""Online state: what users did since the bundle was trained, and scoring that takes it into account.

Feedback events (persisted first by :mod:`recsmith.serving.feedback`) land in :class:`OnlineState`,
keyed by *external* ids so that the state survives a reload onto a bundle with other internal ids.
A user's next recommendation reflects them:

* every event's item counts as seen (removed when ``exclude_seen``);
* positive events (all but ``dislike``) enter the user's history, and the scorer re-scores from it:

  The scorer is chosen by the abilities the model declares (:mod:`recsmith.models.abilities`):

  - ``item_item`` (itemknn, ease, tfidf; ``scores = x_u W``): the history row ``x_u`` gains the
    items, so the score vector changes exactly as if the interactions had been in the training data;
  - ``fold_in`` (als, bpr, mf, two_tower; ``scores = U V^T (+ b)``): the user vector is *folded in*
    by one implicit-ALS least-squares step on the whole history, item vectors fixed::

        u = (V^T V + alpha * V_h^T V_h + lambda I)^-1  (1 + alpha) V_h^T 1

    (Hu, Koren & Volinsky 2008, eq. 4, for the user's row with confidence ``1 + alpha`` on the
    history ``h``), with the model's own constants (ALS: its ``alpha`` and ``regularization``;
    the others ``alpha=10, lambda=1``). A user with no new events keeps the trained vector;
  - ``sessions`` (sasrec, bert4rec, gru4rec, tiger): the online items, in event order, are appended
    to the user's training history and the model scores it as a session (sequential networks read
    the most recent ``max_len`` items, so the newest item shapes the next prediction most);
  - other models (popular, random, ncf, hybrid) score as trained: only the seen-item exclusion
    changes.

Users unknown to the bundle who sent feedback are scored from their events alone (a session
answer, flagged ``cold_start``); the same scorer serves anonymous sessions (recent item ids).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recsmith.models.abilities import FoldIn, ItemItemScoring, extended_history_row
from recsmith.models.base import Recommender
from recsmith.models.sessions import SessionRecommender

MAX_HISTORY = 500  # online items kept per user (oldest dropped): bounds memory and fold-in cost
NEGATIVE_TYPES = frozenset({"dislike"})


@dataclass
class UserEvents:
    positive: deque[str]
    seen: set[str]


class OnlineState:
    """Items each user interacted with through feedback, by external id. Thread-safe."""

    def __init__(self) -> None:
        self._users: dict[str, UserEvents] = {}
        self._generation: dict[str, int] = {}
        self._lock = threading.Lock()
        self.last_event_id = 0

    def add(self, user_id: str, item_id: str, event_type: str) -> None:
        with self._lock:
            state = self._users.get(user_id)
            if state is None:
                state = self._users[user_id] = UserEvents(deque(maxlen=MAX_HISTORY), set())
            state.seen.add(item_id)
            self._generation[user_id] = self._generation.get(user_id, 0) + 1
            if event_type not in NEGATIVE_TYPES:
                state.positive.append(item_id)

    def get(self, user_id: str) -> tuple[list[str], list[str]]:
        """``(positive items in event order, seen items)`` added online for ``user_id``."""
        with self._lock:
            state = self._users.get(user_id)
            if state is None:
                return [], []
            return list(state.positive), list(state.seen)

    def generation(self, user_id: str) -> int:
        """Changes whenever ``user_id`` gets an event: a list computed before must not be cached."""
        return self._generation.get(user_id, 0)

    def __len__(self) -> int:
        return len(self._users)


class _Scored(Protocol):
    """What the base scorer reads of a model: every Recommender, and every ability (a mixin of one)."""

    def seen_items(self, user: int) -> np.ndarray: ...
    def scores(self, users: np.ndarray | list[int]) -> np.ndarray: ...


class Scorer:
    """Dense scores for a user from their training history plus online items (see module doc).

    The base scores a known user as trained; the subclasses use a model ability to take the online
    items into account (:func:`scorer_for` picks by the abilities the model declares), and type
    ``model`` by it.
    """

    model: _Scored

    def __init__(self, model: _Scored) -> None:
        self.model = model

    def seen_items(self, user: int) -> np.ndarray:
        """The training items of ``user`` (train + validation of the run), none for an unknown user."""
        return np.empty(0, dtype=np.int64) if user < 0 else self.model.seen_items(user)

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        """``(n_items,)`` float32 scores, or None when nothing personal is known (cold start)."""
        if user < 0:  # scores of these models do not depend on a history: popular items it is
            return None
        return self.model.scores([user])[0]

    def query(self, user: int, added: np.ndarray) -> np.ndarray | None:
        """The user's vector for an ANN search (models with fold-in), else None."""
        return None


class ItemItemScorer(Scorer):
    """``item_item`` models: the online items join the user's history row, which is scored as is."""

    model: ItemItemScoring

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        if added.size == 0:
            return None if user < 0 else super().scores(user, added)
        return self.model.score_history_rows(extended_history_row(self.model, user, added)).ravel()


class FactorScorer(Scorer):
    """``fold_in`` models: a user with online items gets a folded-in vector, scored like a trained one."""

    model: FoldIn

    def __init__(self, model: FoldIn) -> None:
        super().__init__(model)
        self.U = model.user_embeddings()
        self.V = model.item_embeddings()
        self.bias = model.item_biases()
        self.solver = model.fold_in_solver()

    def user_vector(self, user: int, added: np.ndarray) -> np.ndarray | None:
        if added.size == 0:
            return None if user < 0 else self.U[user]
        return self.solver.user_vector(np.concatenate([self.seen_items(user), added]))

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        u = self.user_vector(user, added)
        if u is None:
            return None
        scores = self.V @ u
        if self.bias is not None:
            scores = scores + self.bias
        return scores.astype(np.float32)

    def query(self, user: int, added: np.ndarray) -> np.ndarray | None:
        from recsmith.serving.bundle import query_vector

        u = self.user_vector(user, added)
        return None if u is None else query_vector(u, self.bias is not None)


class SequenceScorer(Scorer):
    """``sessions`` models (sequential models, TIGER): feedback events extend the user's history."""

    model: SessionRecommender

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        if added.size == 0:
            return None if user < 0 else super().scores(user, added)
        history = added if user < 0 else np.concatenate([self.model.training_history(user), added])
        return np.asarray(self.model.session_scores([history], users=[user])[0], dtype=np.float32)


def scorer_for(model: Recommender) -> Scorer:
    """The scorer of ``model``, chosen by its declared abilities."""
    if isinstance(model, SessionRecommender):
        return SequenceScorer(model)
    if isinstance(model, FoldIn):
        return FactorScorer(model)
    if isinstance(model, ItemItemScoring):
        return ItemItemScorer(model)
    return Scorer(model)
