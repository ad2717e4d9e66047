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
  - ``sessions`` (sasrec, bert4rec, gru4rec, two_tower, tiger, two_stage): the online items, in
    event order, are appended to the user's training history and the model scores it as a session
    (sequential networks read the most recent ``max_len`` items, so the newest item shapes the next
    prediction most). A user without new events is served from the state stored in the bundle
    (:mod:`recsmith.serving.user_state`): with ``query_vectors`` (sasrec, bert4rec, gru4rec,
    two_tower) their query vector, searched like a factor model's user vector; with
    ``session_lists`` (tiger, two_stage) their beam's items or ranked candidates and scores. Only
    anonymous sessions and users with new events run the network (for two_stage: the sources and
    the ranker), through the engine's micro-batcher (:mod:`recsmith.serving.batching`);
    the result is kept until the user's next event (:class:`FreshStates`);
  - other models (popular, random, ncf, hybrid) score as trained: only the seen-item exclusion
    changes.

Users unknown to the bundle who sent feedback are scored from their events alone (a session
answer, flagged ``cold_start``); the same scorer serves anonymous sessions (recent item ids).

A scorer answers with a :class:`Personal`: a query vector (inner-product search over the item
vectors or the ANN index), dense scores, or a short list of scored items.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from recsmith.errors import RecsmithError
from recsmith.models.abilities import FoldIn, ItemItemScoring, extended_history_row
from recsmith.models.base import Recommender
from recsmith.models.sessions import QueryVectors, SessionLists, SessionRecommender, Sessions
from recsmith.serving.user_state import UserState

if TYPE_CHECKING:
    from recsmith.retrieval.query_encoder import OnnxEncoder

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


@dataclass(frozen=True)
class Personal:
    """What one request ranks items by. Exactly one of:

    * ``query``: ``(d,)`` inner-product query for the bundle's item vectors (and its ANN index);
    * ``scores``: ``(n_items,)`` dense scores (``-inf``: never recommended);
    * ``listed``: ``(items, scores)`` of a short list (-1 padded); every other item scores
      ``unlisted`` (the model's fallback order below the list), or ``-inf`` when that is None;

    or none of them: nothing personal is known (the answer is popularity).
    """

    query: np.ndarray | None = None
    scores: np.ndarray | None = None
    listed: tuple[np.ndarray, np.ndarray] | None = None
    unlisted: np.ndarray | None = None

    def dense(self, n_items: int, vectors: np.ndarray | None) -> np.ndarray | None:
        """``(n_items,)`` float32 scores (a fresh array), None when nothing personal is known."""
        if self.scores is not None:
            return np.array(self.scores, dtype=np.float32)
        if self.query is not None:
            return np.asarray(vectors @ self.query, dtype=np.float32)
        if self.listed is not None:
            items, scores = self.listed
            if self.unlisted is not None:
                out = np.array(self.unlisted, dtype=np.float32)
            else:
                out = np.full(n_items, -np.inf, dtype=np.float32)
            keep = items >= 0
            out[items[keep]] = scores[keep]
            return out
        return None


NOTHING = Personal()


@dataclass(frozen=True)
class History:
    """One network input: a history (internal item ids, oldest first) and its user (``-1``: anonymous)."""

    items: np.ndarray
    user: int


class _Scored(Protocol):
    """What the base scorer reads of a model: every Recommender, and every ability (a mixin of one)."""

    n_items: int

    def seen_items(self, user: int) -> np.ndarray: ...
    def scores(self, users: np.ndarray | list[int]) -> np.ndarray: ...


class Scorer:
    """How a user is scored from their training history plus online items (see module doc).

    :meth:`network_input` says whether a request needs the model's network: None when :meth:`personal`
    answers at once (a lookup, a small solve, a sparse product), else the :class:`History` that
    :meth:`run_network` scores -- the engine runs those through its micro-batcher, many at once. The
    base class scores a known user as trained; the subclasses use a model ability (:func:`scorer_for`
    picks by the abilities the model declares).
    """

    #: whether some requests need the network (then the engine keeps a micro-batcher)
    uses_network = False
    model: _Scored

    def __init__(self, model: _Scored) -> None:
        self.model = model

    def seen_items(self, user: int) -> np.ndarray:
        """The training items of ``user`` (train + validation of the run), none for an unknown user."""
        return np.empty(0, dtype=np.int64) if user < 0 else self.model.seen_items(user)

    def network_input(self, user: int, added: np.ndarray) -> History | None:
        """The history the network must score for this request, or None (:meth:`personal` answers)."""
        return None

    def personal(self, user: int, added: np.ndarray) -> Personal:
        """The request's :class:`Personal` without the network (only when :meth:`network_input` is None)."""
        if user < 0:  # scores of these models do not depend on a history: popular items it is
            return NOTHING
        return Personal(scores=self.model.scores([user])[0])

    def run_network(self, inputs: Sequence[History]) -> list[Personal]:
        """One batch of network inputs (the micro-batcher's worker calls this)."""
        raise NotImplementedError(f"{type(self).__name__} needs no network")

    def item_vectors(self) -> np.ndarray | None:
        """``(n_items, d)`` vectors a :attr:`Personal.query` is scored against, if the scorer makes queries."""
        return None

    def scores(self, user: int, added: np.ndarray) -> np.ndarray | None:
        """``(n_items,)`` float32 scores of ``user`` (``-1``: anonymous) plus the ``added`` items, the
        network run here when needed (no micro-batching: for offline use, e.g. ``recsmith retrain``);
        None when nothing personal is known."""
        job = self.network_input(user, added)
        personal = self.personal(user, added) if job is None else self.run_network([job])[0]
        return personal.dense(self.model.n_items, self.item_vectors())


class ItemItemScorer(Scorer):
    """``item_item`` models: the online items join the user's history row, which is scored as is."""

    model: ItemItemScoring

    def personal(self, user: int, added: np.ndarray) -> Personal:
        if added.size == 0:
            return super().personal(user, added)
        return Personal(scores=self.model.score_history_rows(extended_history_row(self.model, user, added)).ravel())


class FactorScorer(Scorer):
    """``fold_in`` models: a user with online items gets a folded-in vector, scored like a trained one."""

    model: FoldIn

    def __init__(self, model: FoldIn) -> None:
        from recsmith.serving.bundle import item_vectors

        super().__init__(model)
        self.U = model.user_embeddings()
        self.has_bias = model.item_biases() is not None
        self.solver = model.fold_in_solver()
        self._vectors = item_vectors(model)

    def personal(self, user: int, added: np.ndarray) -> Personal:
        from recsmith.serving.bundle import query_vector

        if added.size == 0:
            u = None if user < 0 else self.U[user]
        else:
            u = self.solver.user_vector(np.concatenate([self.seen_items(user), added]))
        return NOTHING if u is None else Personal(query=query_vector(u, self.has_bias))

    def item_vectors(self) -> np.ndarray | None:
        return self._vectors


class SequenceScorer(Scorer):
    """``sessions`` models: feedback events extend the user's history, which the network scores as a
    session (known users without events too: by the ability's contract, their training history
    scored as a session gives their scores)."""

    model: SessionRecommender
    uses_network = True

    def network_input(self, user: int, added: np.ndarray) -> History | None:
        if user < 0:
            return History(added, -1) if added.size else None
        return History(np.concatenate([self.model.training_history(user), added]), user)

    def personal(self, user: int, added: np.ndarray) -> Personal:
        return NOTHING  # reached only when network_input is None: an unknown user without events

    def run_network(self, inputs: Sequence[History]) -> list[Personal]:
        scores = self.model.session_scores([h.items for h in inputs], users=[h.user for h in inputs])
        return [Personal(scores=row) for row in np.asarray(scores, dtype=np.float32)]


class QueryScorer(SequenceScorer):
    """``query_vectors`` models: a known user without new events is their stored query vector; the
    network computes the query of a history with events, or of an anonymous session."""

    model: QueryVectors

    def __init__(
        self, model: QueryVectors, state: UserState | None, encoder: Path | None = None, threads: int = 1
    ) -> None:
        super().__init__(model)
        state = state if state is not None and state.queries is not None else UserState.compute(model)
        if state is None or state.queries is None or state.item_vectors is None:  # a QueryVectors model has both
            raise RecsmithError(f"{type(model).__name__}: no stored query vectors and none computable")
        self.state, self.queries = state, state.queries
        self._vectors = np.asarray(state.item_vectors, dtype=np.float32)
        # the network in ONNX Runtime when the bundle has it exported (docs/performance.md), else PyTorch
        self.runtime = "pytorch"
        self._onnx: tuple[OnnxEncoder, Callable[[Sessions, Sequence[int] | None], dict[str, np.ndarray]]] | None = None
        spec = model.query_encoder() if encoder is not None else None
        if encoder is not None and spec is not None:
            from recsmith.retrieval.query_encoder import OnnxEncoder

            self._onnx, self.runtime = (OnnxEncoder(encoder, threads=threads), spec.inputs), "onnxruntime"

    def network_input(self, user: int, added: np.ndarray) -> History | None:
        return None if added.size == 0 else super().network_input(user, added)

    def personal(self, user: int, added: np.ndarray) -> Personal:
        return NOTHING if user < 0 else Personal(query=np.array(self.queries[user], dtype=np.float32))

    def run_network(self, inputs: Sequence[History]) -> list[Personal]:
        sessions, users = [h.items for h in inputs], [h.user for h in inputs]
        if self._onnx is not None:
            runtime, encoder_inputs = self._onnx
            queries = runtime.run(encoder_inputs(sessions, users))
        else:
            queries = self.model.query_vectors(sessions, users=users)
        return [Personal(query=q) for q in np.asarray(queries, dtype=np.float32)]

    def item_vectors(self) -> np.ndarray | None:
        return self._vectors


class ListScorer(SequenceScorer):
    """``session_lists`` models (tiger, two_stage): a known user without new events is their stored
    list (TIGER's beam, two_stage's ranked candidates, with the model's unlisted scores for every
    other item); the network (beam search; sources + ranker) lists a history with events, or a session."""

    model: SessionLists

    def __init__(self, model: SessionLists, state: UserState | None) -> None:
        super().__init__(model)
        state = state if state is not None and state.list_items is not None else UserState.compute(model)
        if state is None or state.list_items is None or state.list_scores is None:  # a SessionLists model has both
            raise RecsmithError(f"{type(model).__name__}: no stored user lists and none computable")
        self.state, self.list_items, self.list_scores = state, state.list_items, state.list_scores
        self.unlisted = model.unlisted_scores()

    def network_input(self, user: int, added: np.ndarray) -> History | None:
        return None if added.size == 0 else super().network_input(user, added)

    def personal(self, user: int, added: np.ndarray) -> Personal:
        if user < 0:
            return NOTHING
        items = np.asarray(self.list_items[user], dtype=np.int64)
        return Personal(listed=(items, np.array(self.list_scores[user], dtype=np.float32)), unlisted=self.unlisted)

    def run_network(self, inputs: Sequence[History]) -> list[Personal]:
        items, scores = self.model.session_lists([h.items for h in inputs], users=[h.user for h in inputs])
        return [Personal(listed=(i, s), unlisted=self.unlisted) for i, s in zip(items, scores)]


def scorer_for(
    model: Recommender, state: UserState | None = None, *, encoder: Path | None = None, threads: int = 1
) -> Scorer:
    """The scorer of ``model``, chosen by its declared abilities (``state``: the bundle's stored
    user state, computed now when a query / list model's bundle has none; ``encoder``: the bundle's
    ONNX query encoder, run with ``threads`` intra-op threads, or None to run the network in PyTorch)."""
    if isinstance(model, QueryVectors):
        return QueryScorer(model, state, encoder, threads)
    if isinstance(model, SessionLists):
        return ListScorer(model, state)
    if isinstance(model, SessionRecommender):
        return SequenceScorer(model)
    if isinstance(model, FoldIn):
        return FactorScorer(model)
    if isinstance(model, ItemItemScoring):
        return ItemItemScorer(model)
    return Scorer(model)


class FreshStates:
    """Network results of users with new events, kept until their next event: a user's state after
    feedback is computed once, not on every request. Bounded (least recently used leave first);
    keyed by ``(external user id, event generation)``. Thread-safe."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[int, Personal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, generation: int) -> Personal | None:
        with self._lock:
            hit = self._entries.get(user_id)
            if hit is None or hit[0] != generation:
                return None
            self._entries.move_to_end(user_id)
            return hit[1]

    def put(self, user_id: str, generation: int, personal: Personal) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            current = self._entries.get(user_id)
            if current is not None and current[0] > generation:
                return  # a newer event's state is already there
            self._entries[user_id] = (generation, personal)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
