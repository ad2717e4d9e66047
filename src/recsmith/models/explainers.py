"""How each model family declares the ``explanations`` ability (:class:`~recsmith.models.abilities.Explanations`).

Each mixin implements the ability's hook from another ability the family already has, so an
explanation is computed from the model itself:

* :class:`ItemItemExplanations` (``item_item``: itemknn, ease, tfidf): ``scores = x_u W`` splits
  exactly into one term per history item, ``x_uj W[j, i]``;
* :class:`FoldInExplanations` (``fold_in``: als, bpr, mf, two_tower): the fold-in of the history
  splits into one term per history item (Hu, Koren & Volinsky 2008, sec. 5);
* :class:`OcclusionExplanations` (``sessions``: sasrec, bert4rec, gru4rec, tiger): each history
  item's effect is the drop of the score when it alone is removed; the history and every occluded
  copy are scored in one batch.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, cast

import numpy as np
import scipy.sparse as sp

from recsmith.models.abilities import (
    Explanations,
    ExplanationTerms,
    FoldIn,
    ItemItemScoring,
    extended_history_row,
)

if TYPE_CHECKING:
    from recsmith.models.sessions import SessionRecommender


class ItemItemExplanations(Explanations):
    """For ``item_item`` models: implement :meth:`_item_item_weights` (the rows of ``W`` of some items)."""

    @abstractmethod
    def _item_item_weights(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``(len(rows), len(items))`` float32 ``W[rows][:, items]``."""

    def _explanation_terms(self, items: np.ndarray, user: int, added: np.ndarray) -> ExplanationTerms:
        model: ItemItemScoring = self  # type: ignore[assignment]
        row = extended_history_row(model, user, added)
        history = row.indices.astype(np.int64)
        weights = row.data.astype(np.float64)
        contributions = (weights[:, None] * self._item_item_weights(history, items)).T  # (m, h)
        return ExplanationTerms(
            "item_item",
            scores=contributions.sum(axis=1),
            contributions=contributions,
            history=history,
            base=np.zeros(len(items)),
        )


class FoldInExplanations(Explanations):
    """For ``fold_in`` models: the history's fold-in ``u = A^-1 (1 + alpha) V_h^T 1`` (see
    :class:`~recsmith.models.abilities.FoldIn`) gives ``v_i . u = sum_j (1 + alpha) v_i^T A^-1 v_j``."""

    def _explanation_terms(self, items: np.ndarray, user: int, added: np.ndarray) -> ExplanationTerms:
        model = cast(FoldIn, self)  # a mixin of FoldIn models (mypy cannot see the final class)
        seen = model.seen_items(user) if user >= 0 else np.empty(0, dtype=np.int64)
        history = np.unique(np.concatenate([seen, added]).astype(np.int64))
        solver = self._explanation_solver()
        A, Vh = solver.system(history)
        X = np.linalg.solve(A, solver.item_vectors[items].astype(np.float64).T)  # (d, m): A^-1 v_i
        scale = float(model.embedding_scale())
        contributions = scale * (1.0 + solver.alpha) * (Vh @ X).T  # (m, h)
        bias = model.item_biases()
        base = scale * (np.zeros(len(items)) if bias is None else bias[items].astype(np.float64))
        return ExplanationTerms(
            "fold_in", scores=base + contributions.sum(axis=1), contributions=contributions, history=history, base=base
        )

    def _explanation_solver(self):
        """The fold-in solver (``V^T V`` costs ``n_items d^2``), kept while the item vectors stay the same."""
        model = cast(FoldIn, self)  # a mixin of FoldIn models (mypy cannot see the final class)
        V = model.item_embeddings()
        key = (V.__array_interface__["data"][0], V.shape)
        cached = getattr(self, "_explain_solver_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, model.fold_in_solver())
            self._explain_solver_cache = cached
        return cached[1]


class OcclusionExplanations(Explanations):
    """For ``sessions`` models: a history item's contribution is ``s(h) - s(h without it)``.

    Only items inside the window the model reads (:meth:`_explained_window`, its most recent items)
    can change a score, so only they are occluded; removing one lets an older item into the window,
    as removing it from the real history would.
    """

    @abstractmethod
    def _explained_window(self) -> int:
        """How many of the most recent history items the model reads."""

    def _history_item_scores(self, histories: list[np.ndarray], user: int, items: np.ndarray) -> np.ndarray:
        """``(len(histories), len(items))`` scores of ``items`` after each history; default: the
        session scores."""
        model: SessionRecommender = self  # type: ignore[assignment]
        return model.session_scores(histories, users=[user] * len(histories))[:, items]

    def _explanation_terms(self, items: np.ndarray, user: int, added: np.ndarray) -> ExplanationTerms:
        model: SessionRecommender = self  # type: ignore[assignment]
        trained = model.training_history(user) if user >= 0 else np.empty(0, dtype=np.int64)
        history = np.concatenate([trained, added]).astype(np.int64)
        candidates = np.unique(history[-self._explained_window() :]) if history.size else history
        histories = [history, *(history[history != j] for j in candidates)]
        scores = np.asarray(self._history_item_scores(histories, user, items), dtype=np.float64)
        return ExplanationTerms(
            "occlusion", scores=scores[0], contributions=(scores[0] - scores[1:]).T, history=candidates
        )


def sparse_block(weights: np.ndarray | sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``weights[rows][:, columns]`` as a dense float32 array, for a dense or CSR matrix.

    For CSR the stored entries of ``rows`` are gathered straight from ``indptr`` / ``indices`` and
    matched against ``columns`` (a served explanation reads a few rows and ten columns: scipy's two
    fancy-indexing passes cost more than the arithmetic).
    """
    out = np.zeros((len(rows), len(columns)), dtype=np.float32)
    if not sp.issparse(weights):
        out[:] = np.asarray(weights)[np.ix_(rows, columns)]
        return out
    weights = sp.csr_matrix(weights)  # no copy for CSR
    starts, stops = weights.indptr[rows], weights.indptr[np.asarray(rows) + 1]
    lengths = stops - starts
    if not lengths.sum():
        return out
    owner = np.repeat(np.arange(len(rows)), lengths)  # which of ``rows`` each gathered entry belongs to
    entry = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    where = np.full(weights.shape[1], -1, dtype=np.int64)
    where[columns] = np.arange(len(columns))
    slot = where[weights.indices[entry]]
    hit = slot >= 0
    out[owner[hit], slot[hit]] = weights.data[entry[hit]]
    return out
