"""``random``: uniform random scores, the floor every model must beat."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from recsmith.data.interactions import Interactions
from recsmith.models.base import ModelConfig, Recommender
from recsmith.models.registry import register

# SplitMix64 constants (Steele, Lea & Flood 2014): a counter-based hash, so the score of
# (seed, user, item) is a pure function of those three numbers.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@register("random")
class RandomModel(Recommender):
    """Scores every item uniformly at random in ``[0, 1)``.

    A user's scores depend only on ``(seed, user, item)``, not on call order or batching: the same
    user gets the same list in every call, after ``save`` / ``load``, and in any batch.
    """

    summary = "uniform random scores: the floor every model must beat"

    class Config(ModelConfig):
        seed: int = Field(0, description="random seed; same seed, same scores")

    config: Config

    def _fit(self, interactions: Interactions) -> None:
        pass  # nothing to learn: scores come from (seed, user, item) alone

    def _score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.uint64)[:, None]
        items = np.arange(self.n_items, dtype=np.uint64)[None, :]
        seed = np.uint64(self.config.seed & 0xFFFFFFFFFFFFFFFF)
        key = _splitmix64(_splitmix64(seed ^ users) ^ items)
        # top 24 bits -> float32 in [0, 1) exactly
        return (key >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        pass


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Elementwise SplitMix64 finaliser on uint64 arrays (wrap-around arithmetic)."""
    x = np.asarray(x, dtype=np.uint64) + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))
