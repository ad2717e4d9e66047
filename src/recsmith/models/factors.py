"""Shared base of latent-factor models: ``scores = U[users] @ V.T (+ item bias)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsmith.models.abilities import FoldIn, ItemSimilarity, read_only
from recsmith.models.base import Recommender
from recsmith.models.explainers import FoldInExplanations


class FactorModel(FoldInExplanations, FoldIn, ItemSimilarity, Recommender):
    """A model whose fitted state is a user and an item factor matrix (and maybe an item bias).

    Subclasses set :attr:`user_factors` ``(n_users, f)``, :attr:`item_factors` ``(n_items, f)``
    (float32) and optionally :attr:`item_bias` ``(n_items,)`` in ``_fit``; scoring, the
    ``embeddings`` / ``fold_in`` abilities (the factors are the embeddings), item similarity (cosine
    of item factors, bias ignored), explanations (of the fold-in) and saving live here.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray | None = None

    def _set_factors(self, user: np.ndarray, item: np.ndarray, bias: np.ndarray | None = None) -> None:
        self.user_factors = np.ascontiguousarray(user, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item, dtype=np.float32)
        self.item_bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        # zero vectors (items never trained) get similarity 0 to everything, not NaN
        self._unit_items = self.item_factors / np.where(norms > 0, norms, 1.0).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        scores = self.user_factors[users] @ self.item_factors.T
        if self.item_bias is not None:
            scores += self.item_bias
        return scores

    # ------------------------------------------------------------------ abilities
    def user_embeddings(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        self._check_fitted()
        return read_only(self.user_factors) if users is None else self.user_factors[self._checked_users(users)]

    def item_embeddings(self) -> np.ndarray:
        self._check_fitted()
        return read_only(self.item_factors)

    def item_biases(self) -> np.ndarray | None:
        self._check_fitted()
        return None if self.item_bias is None else read_only(self.item_bias)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self._unit_items[items] @ self._unit_items.T

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors, "item_factors": self.item_factors}
        if self.item_bias is not None:
            state["item_bias"] = self.item_bias
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self._set_factors(state["user_factors"], state["item_factors"], state.get("item_bias"))
