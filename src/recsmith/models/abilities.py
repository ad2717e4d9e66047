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
                     ``session_scores(sessions)``,                           two_tower, tiger, two_stage
                     ``training_history(user)``,
                     ``recommend_sessions(sessions, k)``
``query_vectors``    :class:`~recsmith.models.sessions.QueryVectors` (has    sasrec, bert4rec, gru4rec,
                     ``sessions``): ``query_vectors(sessions)``,             two_tower
                     ``user_query_vectors(users)``,
                     ``output_item_vectors()``
``session_lists``    :class:`~recsmith.models.sessions.SessionLists` (has    tiger, two_stage
                     ``sessions``): ``list_size()``,
                     ``session_lists(sessions)``, ``user_lists(users)``,
                     ``unlisted_scores()``
``explanations``     :class:`Explanations`: ``explain(items, user=,         itemknn, ease, tfidf, als,
                     added=, n_reasons=)``: the reasons each item is         bpr, mf, two_tower, sasrec,
                     scored as it is, from the model itself                  bert4rec, gru4rec, tiger
===================  ======================================================  ==========================

Who uses them: the bundle's ANN index holds the item embeddings (``[v, b]``) and the service searches
it with the user embedding; the ONNX query encoder is the linear part of the fold-in; online feedback
re-scores a user by fold-in, by an edited history row, or as a session; a bundle stores each known
user's query vector (``query_vectors``) or list (``session_lists``), so that serving them runs no
network; ``/similar`` and ``recsmith recommend --item-id`` use the item similarity; ``recsmith recommend --explain``, the API's
``?explain=true`` and ``recsmith app`` show the explanations. Every model also has, on the base contract,
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
    """Every ability class by name (those defined here and in :mod:`recsmith.models.sessions`: sessions,
    query_vectors, session_lists)."""
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
    """The public methods an ability adds (what a model without it must not have); a method it only
    re-implements from an ability it builds on (``query_vectors``' ``session_scores``) is not its own."""
    inherited = {name for base in ability.__mro__[1:] for name in vars(base)}
    return sorted(
        n
        for n, v in vars(ability).items()
        if not n.startswith("_") and n != "ability" and callable(v) and n not in inherited
    )


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

    def system(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(A, V_h)`` of one history (internal item ids, repeats counted once), float64: the
        ``d x d`` matrix ``V^T V + alpha V_h^T V_h + lambda I`` and the history's item vectors."""
        Vh = self.item_vectors[np.unique(np.asarray(history, dtype=np.int64))].astype(np.float64)
        return self._gram + self.alpha * (Vh.T @ Vh), Vh

    def user_vector(self, history: np.ndarray) -> np.ndarray:
        """``(d,)`` float32 vector of one history (internal item ids, repeats counted once)."""
        A, Vh = self.system(history)
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
class WarmStart(Ability):
    """The next fit starts from an earlier fitted model of the same kind instead of from scratch.

    A dataset grown by appending interactions keeps the ids it had (``recsmith retrain``: known users
    and items keep their indexes, new ones get the next free ids), so the earlier model's parameters
    for ids ``0..previous.n_users - 1`` / ``0..previous.n_items - 1`` are the new model's starting
    point for the same users and items; new ids start as a fresh fit would start them. The earlier
    model must have the same shape (e.g. the same number of factors). Used once, by the next ``fit``.
    """

    ability = "warm_start"
    purpose = "starts a fit from an earlier model's parameters: recsmith retrain on a grown dataset"

    def warm_start_from(self, previous: "WarmStart") -> None:
        """Start the next ``fit`` from ``previous`` (fitted, same class and shape); a ``ConfigError``
        names what differs."""
        raise NotImplementedError


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


def extended_history_row(model: ItemItemScoring, user: int, added: np.ndarray) -> sp.csr_matrix:
    """``(1, n_items)`` history row of ``user`` (``-1``: none) with the ``added`` items set to at least
    1: what an ``item_item`` model scores for a user plus online events, or for an anonymous session."""
    items = np.unique(np.asarray(added, dtype=np.int64))
    if user >= 0 and items.size == 0:
        return model.history_rows([user])
    row = sp.csr_matrix(
        (np.ones(items.size, dtype=np.float32), (np.zeros(items.size, dtype=np.int64), items)),
        shape=(1, model.n_items),
    )
    if user >= 0:
        row = row.maximum(model.history_rows([user]))
    return sp.csr_matrix(row, dtype=np.float32)


# ---------------------------------------------------------------------- explanations
@dataclass(frozen=True)
class Reason:
    """One reason an item was scored as it was: a history item (``item`` >= 0, ``feature`` None) or a
    named feature (``feature``, ``item`` -1: a ranker's inputs), and its ``contribution`` to the score
    (in the model's score units; positive: it spoke for the item)."""

    contribution: float
    item: int = -1
    feature: str | None = None


@dataclass(frozen=True)
class Explanation:
    """Why ``item`` got ``score``: its top :class:`Reason` s, largest contribution first.

    ``method`` says how the contributions were computed (``item_item``, ``fold_in``, ``occlusion``;
    a ranker: ``feature_contributions``). ``additive`` methods decompose the score exactly::

        score == base + sum(r.contribution for r in reasons) + other

    with ``base`` the part no reason accounts for (an item bias, a ranker's expected value) and
    ``other`` the summed contributions of the reasons not listed. For occlusion (not additive) a
    contribution is the drop of the score when that item alone is removed from the history; ``base``
    and ``other`` are 0.
    """

    item: int
    score: float
    method: str
    reasons: tuple[Reason, ...]
    additive: bool
    base: float = 0.0
    other: float = 0.0

    def to_dict(self, item_ids: Sequence[str], names: Any = None) -> dict[str, Any]:
        """JSON-ready, with external ids: ``item_ids[i]`` is internal item ``i``'s; ``names`` an optional
        mapping internal id -> display name (a reason then carries ``name``)."""
        reasons = []
        for r in self.reasons:
            if r.item >= 0:
                row: dict[str, Any] = {"item_id": str(item_ids[r.item])}
                if names is not None:
                    row["name"] = names.get(r.item)
            else:
                row = {"feature": r.feature}
            reasons.append({**row, "contribution": float(r.contribution)})
        out: dict[str, Any] = {"method": self.method, "score": float(self.score), "reasons": reasons}
        if self.additive:
            out.update(base=float(self.base), other=float(self.other))
        return out


@dataclass(frozen=True)
class ExplanationTerms:
    """What the hook :meth:`Explanations._explanation_terms` returns for ``m`` items and ``r``
    candidate reasons (history items, or named features)."""

    method: str
    #: ``(m,)`` the scores explained
    scores: np.ndarray
    #: ``(m, r)`` each candidate reason's contribution to each item's score
    contributions: np.ndarray
    #: ``(r,)`` the history items the columns stand for, or None when they are ``features``
    history: np.ndarray | None = None
    #: ``r`` feature names the columns stand for (a ranker), or None
    features: Sequence[str] | None = None
    #: ``(m,)`` additive methods: the part of each score no reason accounts for; None: not additive
    base: np.ndarray | None = None


class Explanations(Ability):
    """Why the model scores an item as it does, computed from the model itself.

    ``explain(items, user=u, added=...)`` explains the scores the model gives ``items`` for user
    ``u``'s training history (``-1``: no user) followed by the ``added`` items (events after
    training, or an anonymous session's items): the history every scorer of
    :mod:`recsmith.serving.online` reads. Each :class:`Explanation` lists the reasons with a positive
    contribution, largest first (ties: lower item id / feature name), at most ``n_reasons``.

    How each family declares it (a mixin of :mod:`recsmith.models.explainers`):

    * ``item_item`` models (``scores = x_u W``): the contribution of history item ``j`` to item ``i``
      is ``x_uj W[j, i]``, exact and additive: removing ``j`` lowers the score by exactly it;
    * ``fold_in`` models: the history's fold-in decomposed as in Hu, Koren & Volinsky (2008, sec. 5):
      ``score_i = sum_j (1 + alpha) v_i^T A^-1 v_j (+ b_i)``, ``A = V^T V + alpha V_h^T V_h + lambda I``;
      ``v_i^T A^-1 v_j`` is the similarity of ``i`` and ``j`` in the model's embedding space as this
      user's history weighs it. (ALS's trained user vector is this fold-in; for bpr / mf / two_tower
      it is the model's map from a history to a user vector that serving also uses);
    * ``sessions`` models: occlusion, the drop of the item's score when one history item is removed
      (all the histories re-scored in one batch);
    * a ranker declares it by implementing :meth:`_explanation_terms` with ``features`` (its
      per-prediction feature contributions, e.g. LightGBM's ``pred_contrib``; ``base`` the expected
      value), so its reasons are named features.
    """

    ability = "explanations"
    purpose = "why an item was recommended: recommend --explain, the service's ?explain=true"

    def explain(
        self,
        items: np.ndarray | Sequence[int],
        *,
        user: int = -1,
        added: np.ndarray | Sequence[int] = (),
        n_reasons: int = 5,
    ) -> list[Explanation]:
        """One :class:`Explanation` per internal item id of ``items`` (see the class docstring)."""
        from recsmith.errors import RecsmithError

        self._check_fitted()
        items = self._checked_items(items)
        user = int(self._checked_users([user])[0]) if user >= 0 else -1
        added = self._checked_items(added)
        if n_reasons < 0:
            raise RecsmithError(f"n_reasons must be at least 0, got {n_reasons}")
        if items.size == 0:
            return []
        terms = self._explanation_terms(items, user, added)
        contributions = np.asarray(terms.contributions, dtype=np.float64).reshape(len(items), -1)
        by_item = terms.history is not None
        keys = np.asarray(terms.history if by_item else list(terms.features or []))
        # each row's reasons: largest contribution first, ties by the lower item id / feature name
        order = np.lexsort((np.broadcast_to(keys, contributions.shape), -contributions), axis=1)[:, :n_reasons]
        top = np.take_along_axis(contributions, order, axis=1)
        totals = contributions.sum(axis=1)
        out = []
        for row, item in enumerate(items.tolist()):
            chosen = [(float(c), keys[k]) for c, k in zip(top[row], order[row]) if c > 0]  # reasons speak for it
            reasons = tuple(Reason(c, item=int(key)) if by_item else Reason(c, feature=str(key)) for c, key in chosen)
            additive = terms.base is not None
            base = float(terms.base[row]) if terms.base is not None else 0.0
            other = float(totals[row] - sum(c for c, _ in chosen)) if additive else 0.0
            out.append(Explanation(item, float(terms.scores[row]), terms.method, reasons, additive, base, other))
        return out

    @abstractmethod
    def _explanation_terms(self, items: np.ndarray, user: int, added: np.ndarray) -> ExplanationTerms:
        """The terms of checked ``items`` (int64) for ``user`` (``-1``: none) plus ``added`` (int64)."""


def popularity_explanation(item: int, popularity: float) -> Explanation:
    """The explanation of a most-popular answer (cold start): one ``popularity`` reason, the score."""
    return Explanation(item, float(popularity), "popularity", (Reason(float(popularity), feature="popularity"),), True)


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
