"""Shared base of item-item models (ItemKNN, EASE): ``scores = X_u @ W``.

``X`` is the user x item training matrix (0/1 by default, summed weights with ``binary=False``)
and ``W`` an ``(n_items, n_items)`` item-item matrix, sparse or dense: ``W[i, j]`` is how much
having interacted with item ``i`` speaks for item ``j``. Row ``i`` of ``W`` is therefore also the
answer to "items similar to ``i``".
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.models.abilities import ItemItemScoring, ItemSimilarity
from recsmith.models.base import ModelConfig, Recommender, _arrays_to_csr, _csr_to_arrays
from recsmith.models.explainers import ItemItemExplanations, sparse_block


class ItemItemConfig(ModelConfig):
    binary: bool = Field(
        True,
        description="learn from and score with 0/1 interactions; False uses summed weights (ratings, repeat counts)",
    )


class ItemItemModel(ItemItemExplanations, ItemItemScoring, ItemSimilarity, Recommender):
    """Implement :meth:`_item_weights`; fitting, scoring, the ``item_item``, ``item_similarity`` and
    ``explanations`` abilities and state live here."""

    Config = ItemItemConfig
    config: ItemItemConfig

    _weights: np.ndarray | sp.csr_matrix
    _profiles: sp.csr_matrix | None = None  # the weighted X, kept only when binary=False

    @abstractmethod
    def _item_weights(self, X: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """``(n_items, n_items)`` float32 ``W`` from the ``(n_users, n_items)`` CSR ``X``."""

    def _fit(self, interactions: Interactions) -> None:
        X = interactions.binary if self.config.binary else interactions.matrix
        self._profiles = None if self.config.binary else X
        self._weights = self._item_weights(X)

    def _user_rows(self, users: np.ndarray) -> sp.csr_matrix:
        return (self.seen if self._profiles is None else self._profiles)[users]

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.score_history_rows(self._user_rows(users))

    # ------------------------------------------------------------------ abilities
    def history_rows(self, users: np.ndarray | Sequence[int]) -> sp.csr_matrix:
        self._check_fitted()
        return self._user_rows(self._checked_users(users)).astype(np.float32)

    def score_history_rows(self, rows: sp.spmatrix) -> np.ndarray:
        self._check_fitted()
        if rows.ndim != 2 or rows.shape[1] != self.n_items:
            raise RecsmithError(f"history rows must have {self.n_items} columns (one per item), got shape {rows.shape}")
        scores = rows @ self._weights
        if sp.issparse(scores):
            scores = scores.toarray()
        return np.asarray(scores, dtype=np.float32)

    def _item_item_weights(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        return sparse_block(self._weights, rows, items)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        if not sp.issparse(self._weights):
            return self._weights[items].astype(np.float32)
        rows = self._weights[items].tocoo()
        sims = np.full((len(items), self.n_items), -np.inf, dtype=np.float32)
        sims[rows.row, rows.col] = rows.data  # items that are no neighbour stay -inf
        return sims

    def _state(self) -> dict[str, np.ndarray]:
        if sp.issparse(self._weights):
            state = _csr_to_arrays("weights", self._weights)
        else:
            state = {"weights": self._weights}
        if self._profiles is not None:
            state.update(_csr_to_arrays("profiles", self._profiles))
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        if "weights" in state:
            self._weights = np.ascontiguousarray(state["weights"], dtype=np.float32)
        else:
            self._weights = _arrays_to_csr("weights", state, (self.n_items, self.n_items))
        if "profiles.data" in state:
            self._profiles = _arrays_to_csr("profiles", state, (self.n_users, self.n_items))
        else:
            self._profiles = None
