"""Optional abilities a model declares by inheriting them: what tools may ask of it beyond ranking.

Every model ranks users (:class:`~recsmith.models.base.Recommender`). Some can do more, and the
layers above (serving, retrieval, the CLI) use those extras only through the interfaces here, never
by probing attributes, concrete classes or model names: the idea of scikit-learn's estimator tags
and of FAISS indexes, whose class says what they support. A model declares an ability by inheriting
its class; ``Model.abilities()`` lists the names, and a tool checks one with ``isinstance(model,
FoldIn)``. A model that does not declare an ability has none of its methods.

===================  ======================================================  ==========================
ability              interface (methods a tool may call)                     declared by
===================  ======================================================  ==========================
``embeddings``       :class:`Embeddings`: ``user_embeddings(users)``,        als, bpr, mf, two_tower
                     ``item_embeddings()``, ``item_biases()``,
                     ``embedding_scale()``
``fold_in``          :class:`FoldIn` (has ``embeddings``):                   als, bpr, mf, two_tower
                     ``fold_in(histories)``, ``fold_in_solver()``,
                     ``fold_in_constants()``
``item_item``        :class:`ItemItemScoring`: ``history_rows(users)``,      itemknn, ease, tfidf
                     ``score_history_rows(rows)``
``item_similarity``  :class:`ItemSimilarity`: ``item_similarity(items)``,    all but popular, random
                     ``similar_items(items, k)``
``sessions``         :class:`~recsmith.models.sessions.SessionRecommender`:  sasrec, bert4rec, gru4rec,
                     ``session_scores(sessions)``,                           tiger
                     ``training_history(user)``,
                     ``recommend_sessions(sessions, k)``
===================  ======================================================  ==========================

Who uses them: the bundle's ANN index holds the item embeddings (``[v, b]``) and the service searches
it with the user embedding; the ONNX query encoder is the linear part of the fold-in; online feedback
re-scores a user by fold-in, by an edited history row, or as a session; ``/similar`` and
``recsmith recommend --item-id`` use the item similarity. Every model also has, on the base contract,
``seen`` / ``seen_items(user)`` (its training interactions) and ``scores(users)`` (raw scores).

Adding an ability is one :class:`Ability` subclass here (a class attribute ``ability`` names it,
its public methods are the interface, a private hook is what models implement) and its contract
test in ``tests/unit/models/model_contract.py`` (``test_ability_<name>``), which every model that
declares it then passes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import torch


class Ability(ABC):
    """Base of the ability interfaces. A subclass that sets ``ability`` (its name) is one ability;
    a model class inheriting it declares it. Abilities are mixins of
    :class:`~recsmith.models.base.Recommender`: they read the fitted model's ``n_users`` /
    ``n_items`` and its id checks."""

    #: the ability's name, as listed by ``Recommender.abilities()``; "" for non-abilities
    ability: ClassVar[str] = ""
    #: what the ability gives a user of recsmith, one line (``recsmith models NAME`` shows it)
    purpose: ClassVar[str] = ""

    n_users: int
    n_items: int

    if TYPE_CHECKING:  # provided by Recommender

        def _check_fitted(self) -> None: ...
        def _checked_users(self, users: Any) -> np.ndarray: ...
        def _checked_items(self, items: Any) -> np.ndarray: ...
        def seen_items(self, user: int) -> np.ndarray: ...
        def scores(self, users: np.ndarray | list[int]) -> np.ndarray: ...


def declared_abilities(cls: type) -> tuple[str, ...]:
    """Sorted names of the abilities ``cls`` inherits."""
    return tuple(sorted({c.ability for c in cls.__mro__ if issubclass(c, Ability) and c.__dict__.get("ability")}))


def all_abilities() -> dict[str, type[Ability]]:
    """Every ability class by name (those defined here and in :mod:`recsmith.models.sessions`)."""
    import recsmith.models.sessions  # noqa: F401  (defines the sessions ability)

    found: dict[str, type[Ability]] = {}
    todo: list[type[Ability]] = [Ability]
    while todo:
        cls = todo.pop()
        if cls.__dict__.get("ability"):
            found[cls.ability] = cls
        todo.extend(cls.__subclasses__())
    return dict(sorted(found.items()))


def ability_methods(ability: type[Ability]) -> list[str]:
    """The public methods an ability adds (what a model without it must not have)."""
    return sorted(n for n, v in vars(ability).items() if not n.startswith("_") and n != "ability" and callable(v))


# ---------------------------------------------------------------------- embeddings
class Embeddings(Ability):
    """Scores are inner products of a user and an item vector::

        scores(users) = embedding_scale() * (user_embeddings(users) @ item_embeddings().T + item_biases())
                        + c_u

    where ``c_u`` is a per-user constant (mf's optional user bias; 0 for the others) that never
    changes a ranking. The scale is positive (two_tower: ``1 / temperature``; 1 elsewhere), so an
    inner-product index over ``[v_i, b_i]`` searched with ``[u, 1]`` ranks as the model does.

    Implement :meth:`user_embeddings` and :meth:`item_embeddings` (and :meth:`item_biases`,
    :meth:`embedding_scale` when they are not None / 1). Returned tables may be read-only views of
    the model's state: copy them before writing.
    """

    ability = "embeddings"
    purpose = "user and item vectors: the served bundle answers from a FAISS (ANN) index"

    @abstractmethod
    def user_embeddings(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """``(len(users), d)`` float32 user vectors of internal ``users``; all ``(n_users, d)`` for None."""

    @abstractmethod
    def item_embeddings(self) -> np.ndarray:
        """``(n_items, d)`` float32 item vectors."""

    def item_biases(self) -> np.ndarray | None:
        """``(n_items,)`` float32 item biases added to the inner products, or None."""
        return None

    def embedding_scale(self) -> float:
        """The positive factor between the inner products and the model's scores."""
        return 1.0


@dataclass(frozen=True)
class FoldInConstants:
    """``alpha``: confidence of a history item is ``1 + alpha``; ``regularization``: the L2 ``lambda``."""

    alpha: float
    regularization: float


#: fold-in constants of embedding models that do not learn with implicit-ALS confidences (bpr, mf,
#: two_tower): ALS's usual confidence scale and a unit ridge, which keep a folded-in vector in the
#: range of the trained ones on the data sets of ``docs/`` (ALS uses its own config instead)
DEFAULT_FOLD_IN = FoldInConstants(alpha=10.0, regularization=1.0)


class FoldIn(Embeddings):
    """A user vector from any item history, the item vectors fixed: one implicit-ALS least-squares
    step (Hu, Koren & Volinsky 2008, eq. 4) with confidence ``1 + alpha`` on the history ``h``::

        u = (V^T V + alpha * V_h^T V_h + lambda I)^-1  (1 + alpha) V_h^T 1

    Scoring ``u`` like a trained user vector (``V u + b``) ranks items for a history the model has
    not seen: a known user plus online events, or an anonymous session. The constants are the
    model's own (:meth:`fold_in_constants`: ALS's ``alpha`` / ``regularization``, else
    :data:`DEFAULT_FOLD_IN`). Item biases are not part of the step (it fits ``V u`` to the history);
    serving adds them to the scores as for a trained vector. An empty history gives the zero vector.
    """

    ability = "fold_in"
    purpose = "a user vector from any history: online feedback, new users, the ONNX query encoder"

    def fold_in_constants(self) -> FoldInConstants:
        """``(alpha, regularization)`` of the fold-in step."""
        return DEFAULT_FOLD_IN

    def fold_in_solver(self) -> FoldInSolver:
        """A solver holding ``V^T V + lambda I``: build once, fold in many histories (serving does)."""
        self._check_fitted()
        return FoldInSolver(self.item_embeddings(), self.fold_in_constants())

    def fold_in(self, histories: Sequence[Sequence[int]] | Sequence[np.ndarray]) -> np.ndarray:
        """``(len(histories), d)`` float32 user vectors of item histories (internal ids; repeats count once)."""
        solver = self.fold_in_solver()
        return solver.user_vectors([self._checked_items(h) for h in histories])


class FoldInSolver:
    """The fold-in of :class:`FoldIn` for fixed item vectors ``V`` ``(n_items, d)``.

    ``V^T V`` is accumulated in float32 (no float64 copy of ``V``) and the ``d x d`` system solved in
    float64.
    """

    def __init__(self, item_vectors: np.ndarray, constants: FoldInConstants) -> None:
        self.item_vectors = item_vectors
        self.alpha = float(constants.alpha)
        self.regularization = float(constants.regularization)
        d = item_vectors.shape[1]
        self._gram = (item_vectors.T @ item_vectors).astype(np.float64) + self.regularization * np.eye(d)

    def user_vector(self, history: np.ndarray) -> np.ndarray:
        """``(d,)`` float32 vector of one history (internal item ids, repeats counted once)."""
        Vh = self.item_vectors[np.unique(np.asarray(history, dtype=np.int64))].astype(np.float64)
        A = self._gram + self.alpha * (Vh.T @ Vh)
        b = (1.0 + self.alpha) * Vh.sum(axis=0)
        return np.linalg.solve(A, b).astype(np.float32)

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """``(len(histories), d)`` float32."""
        d = self.item_vectors.shape[1]
        out = np.zeros((len(histories), d), dtype=np.float32)
        for row, history in enumerate(histories):
            out[row] = self.user_vector(history)
        return out


# ---------------------------------------------------------------------- item-item scoring
class ItemItemScoring(Ability):
    """Scores are linear in a user's history row: ``scores(users) = history_rows(users) @ W``.

    ``W`` is the model's ``(n_items, n_items)`` item-item matrix. A tool may change a row (add the
    items of online events) and score it: the result is what the model would give a user with that
    training history. Implement :meth:`history_rows` and :meth:`score_history_rows`.
    """

    ability = "item_item"
    purpose = "scores linear in a history row: online feedback re-scores the edited row"

    @abstractmethod
    def history_rows(self, users: np.ndarray | Sequence[int]) -> sp.csr_matrix:
        """``(len(users), n_items)`` float32 CSR rows the model scores from: 1 per training item,
        or the model's weights (summed interaction weights, recency decay); nonzero exactly on the
        user's training items."""

    @abstractmethod
    def score_history_rows(self, rows: sp.spmatrix) -> np.ndarray:
        """``(n, n_items)`` float32 scores ``rows @ W`` of any ``(n, n_items)`` history rows."""


# ---------------------------------------------------------------------- item similarity
class ItemSimilarity(Ability):
    """Item-item similarity: the items most like a given one. Implement :meth:`_item_similarity`."""

    ability = "item_similarity"
    purpose = "similar items: recommend --item-id, the service's /similar"

    def item_similarity(self, items: np.ndarray | Sequence[int]) -> np.ndarray:
        """``(len(items), n_items)`` float32 similarities of ``items`` to every item, higher is more
        similar, ``-inf`` for items that are no neighbour at all; the item itself is included. A fresh
        array."""
        self._check_fitted()
        items = self._checked_items(items)
        return np.array(self._item_similarity(items), dtype=np.float32)

    def similar_items(self, items: np.ndarray | Sequence[int], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar items to each of ``items`` (the item itself excluded).

        Returns ``(items, scores)``, both ``(len(items), k)``, best first; ``-1`` / ``-inf`` where
        fewer than ``k`` items are neighbours.
        """
        from recsmith.models.base import top_k

        query = self._checked_items(items)
        sims = self.item_similarity(query)
        sims[np.arange(query.size), query] = -np.inf
        top, scores = top_k(sims, min(k, self.n_items - 1))
        top[~np.isfinite(scores)] = -1
        return top, scores

    @abstractmethod
    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        """``(len(items), n_items)`` similarities of checked ``items`` (int64); may be a view."""


# ---------------------------------------------------------------------- helpers for implementations
def read_only(array: np.ndarray) -> np.ndarray:
    """A float32 C-contiguous view of ``array`` that cannot be written (a copy only if it must convert)."""
    view = np.ascontiguousarray(array, dtype=np.float32).view()
    view.flags.writeable = False
    return view


def tensor_table(tensor: torch.Tensor) -> np.ndarray:
    """A torch parameter as a read-only float32 numpy table (shares memory on the CPU)."""
    return read_only(tensor.detach().cpu().numpy())


def missing_ability(model: Any, ability: type[Ability]) -> str:
    """The message for a call that needs ``ability`` on a ``model`` without it, naming what it has."""
    have = ", ".join(type(model).abilities()) or "none"
    return f"model {model.name!r} does not have the {ability.ability!r} ability (its abilities: {have})"
