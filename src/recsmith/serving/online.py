"""Online state: what users did since the bundle was trained, and scoring that takes it into account.

Feedback events (persisted first by :mod:`recsmith.serving.feedback`) land in :class:`OnlineState`,
keyed by *external* ids so that the state survives a reload onto a bundle with other internal ids.
A user's next recommendation reflects them:

* every event's item counts as seen (removed when ``exclude_seen``);
* positive events (all but ``dislike``) enter the user's history, and the scorer re-scores from it:

  - item-item models (itemknn, ease; ``scores = x_u W``): the history row ``x_u`` gains the items,
    so the score vector changes exactly as if the interactions had been in the training data;
  - embedding models (als, bpr, mf; ``scores = U V^T (+ b)``): the user vector is *folded in* by one
    implicit-ALS least-squares step on the whole history, item factors fixed::

        u = (V^T V + alpha * V_h^T V_h + lambda I)^-1  (1 + alpha) V_h^T 1

    (Hu, Koren & Volinsky 2008, eq. 4, for the user's row with confidence ``1 + alpha`` on the
    history ``h``). ALS uses its own ``alpha`` and ``regularization``; other embedding models use
    ``alpha=10, lambda=1``. A user with no new events keeps the trained vector;
  - other models (popular, random) score as trained: only the seen-item exclusion changes.

  - sequential models (sasrec, bert4rec, gru4rec): the online items, in event order, are appended
    to the user's training history and the network reads the most recent ``max_len`` of them, so the
    newest item shapes the next prediction most (its position is "now").

Users unknown to the bundle who sent feedback are scored from their events alone (a session
answer, flagged ``cold_start``); the same scorer serves anonymous sessions (recent item ids).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsmith.models.base import Recommender

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


class Scorer:
    """Dense scores for a user from their training history plus online items (see module doc)."""

    def __init__(self, model: Recommender) -> None:
        self.model = model
        # the training history the model filters as seen (train + validation of the run)
        self.seen: sp.csr_matrix = model._seen

    def seen_items(self, user: int) -> np.ndarray:
        if user < 0:
            return np.empty(0, dtype=np.int64)
        s = self.seen
        return s.indices[s.indptr[user] : s.indptr[user + 1]].astype(np.int64)

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        """``(n_items,)`` float32 scores, or None when nothing personal is known (cold start)."""
        if user < 0:  # scores of these models do not depend on a history: popular items it is
            return None
        return np.asarray(self.model._score(np.array([user]))[0], dtype=np.float32)

    def query(self, user: int, added: np.ndarray) -> np.ndarray | None:
        """The user's vector for an ANN search (factor models), else None."""
        return None


class ItemItemScorer(Scorer):
    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        if added.size == 0:
            return None if user < 0 else super().scores(user, added)
        model = self.model
        n = model.n_items
        items = np.unique(added)
        row = sp.csr_matrix(
            (np.ones(items.size, dtype=np.float32), (np.zeros(items.size, dtype=np.int64), items)), shape=(1, n)
        )
        if user >= 0:
            row = row.maximum(model._user_rows(np.array([user])))
        scores = row @ model._weights
        if sp.issparse(scores):
            scores = scores.toarray()
        return np.asarray(scores, dtype=np.float32).ravel()


class FactorScorer(Scorer):
    def __init__(self, model: Recommender, tables: tuple[np.ndarray, np.ndarray, np.ndarray | None]) -> None:
        from recsmith.retrieval.encoders import fold_in_constants

        super().__init__(model)
        self.U, self.V, self.bias = tables
        self.alpha, self.reg = fold_in_constants(model)
        # V^T V in float32 (no float64 copy of V), accumulated and solved in float64
        self._gram = (self.V.T @ self.V).astype(np.float64) + self.reg * np.eye(self.V.shape[1])

    def user_vector(self, user: int, added: np.ndarray) -> np.ndarray | None:
        if added.size == 0:
            return None if user < 0 else self.U[user]
        history = np.unique(np.concatenate([self.seen_items(user), added]))
        Vh = self.V[history].astype(np.float64)
        A = self._gram + self.alpha * (Vh.T @ Vh)
        b = (1.0 + self.alpha) * Vh.sum(axis=0)
        return np.linalg.solve(A, b).astype(np.float32)

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
    """Session recommenders (sequential models, TIGER): feedback events extend the user's history."""

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        if added.size == 0:
            return None if user < 0 else super().scores(user, added)
        history = added if user < 0 else np.concatenate([self.model.histories.of(user), added])
        return np.asarray(self.model.session_scores([history], users=[user])[0], dtype=np.float32)


def scorer_for(model: Recommender) -> Scorer:
    from recsmith.models.item_item import ItemItemModel
    from recsmith.models.sessions import SessionRecommender
    from recsmith.retrieval.encoders import embedding_tables

    if isinstance(model, SessionRecommender):
        return SequenceScorer(model)

    tables = embedding_tables(model)
    if tables is not None:
        return FactorScorer(model, tables)
    if isinstance(model, ItemItemModel):
        return ItemItemScorer(model)
    return Scorer(model)
