"""Shared base of latent-factor models: ``scores = U[users] @ V.T (+ item bias)``."""

from __future__ import annotations

import numpy as np

from recsmith.models.base import Recommender


class FactorModel(Recommender):
    """A model whose fitted state is a user and an item factor matrix (and maybe an item bias).

    Subclasses set :attr:`user_factors` ``(n_users, f)``, :attr:`item_factors` ``(n_items, f)``
    (float32) and optionally :attr:`item_bias` ``(n_items,)`` in ``_fit``; scoring, item
    similarity (cosine of item factors, bias ignored) and saving live here.
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

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self._unit_items[items] @ self._unit_items.T

    def _state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors, "item_factors": self.item_factors}
        if self.item_bias is not None:
            state["item_bias"] = self.item_bias
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self._set_factors(state["user_factors"], state["item_factors"], state.get("item_bias"))
