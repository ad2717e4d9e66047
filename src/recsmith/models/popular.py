"""``popular``: the same list for everyone, most popular items first (optionally time-decayed)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.models.base import ModelConfig, Recommender
from recsmith.models.registry import register

SECONDS_PER_DAY = 86_400


@register("popular")
class PopularModel(Recommender):
    """Global popularity, optionally with exponential time decay.

    An item's score is the sum over its interactions of ``value * decay``, where ``value`` is set
    by ``measure`` and, with ``half_life_days`` set,
    ``decay = 0.5 ** ((t_max - t) / half_life)``, ``t_max`` being the latest timestamp in the
    training data: an interaction one half-life older than the newest one counts half.

    Timestamps are unix seconds for most sources, and then ``half_life_days`` is in days. Sources
    without time (e.g. sequence files such as Amazon Beauty) store each interaction's *position in
    its user's sequence* as the timestamp; set ``timestamps="steps"`` for them, and
    ``half_life_days`` is then read as a number of steps. Positions are per user, so there the
    decay favours items late in long sequences -- a weak proxy for recency, not the real thing.

    It declares no abilities: no item similarity (no ``similar_items``), no embeddings.
    """

    summary = "the same most-popular list for everyone, optionally time-decayed"

    class Config(ModelConfig):
        measure: Literal["users", "interactions", "weight"] = Field(
            "users",
            description="what an item's popularity counts: distinct users, interaction rows (repeats "
            "count again), or the sum of interaction weights",
        )
        half_life_days: float | None = Field(
            None,
            gt=0,
            description="time decay: an interaction this much older than the newest counts half; "
            "None = no decay. In steps, not days, when timestamps='steps'",
        )
        timestamps: Literal["unix_seconds", "steps"] = Field(
            "unix_seconds",
            description="what the timestamp column holds: unix seconds, or sequence positions "
            "(sources without time); sets the unit of half_life_days (days or steps)",
        )

    config: Config

    def _fit(self, interactions: Interactions) -> None:
        self._scores = item_popularity(interactions, self.config)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self._scores, (len(users), 1))

    def _state(self) -> dict[str, np.ndarray]:
        return {"scores": self._scores}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self._scores = state["scores"].astype(np.float32)


def item_popularity(interactions: Interactions, config: PopularModel.Config) -> np.ndarray:
    """``(n_items,)`` float32 popularity scores as described in :class:`PopularModel`."""
    f = interactions.frame
    if config.half_life_days is None:
        decay = pl.lit(1.0, dtype=pl.Float64)
    else:
        unit = SECONDS_PER_DAY if config.timestamps == "unix_seconds" else 1
        half_life = config.half_life_days * unit
        age = (pl.col(Columns.Timestamp).max() - pl.col(Columns.Timestamp)).cast(pl.Float64)
        decay = pl.lit(0.5, dtype=pl.Float64).pow(age / half_life)
    f = f.with_columns(decay.alias("decay"))
    if config.measure == "users":
        # each (user, item) pair counts once, as fresh as its latest interaction
        f = f.group_by(Columns.User, Columns.Item).agg(pl.col("decay").max().alias("value"))
    elif config.measure == "interactions":
        f = f.with_columns(pl.col("decay").alias("value"))
    else:
        f = f.with_columns((pl.col(Columns.Weight).cast(pl.Float64) * pl.col("decay")).alias("value"))
    per_item = f.group_by(Columns.Item).agg(pl.col("value").sum())
    scores = np.zeros(interactions.n_items, dtype=np.float64)
    scores[per_item[Columns.Item].to_numpy()] = per_item["value"].to_numpy()
    return scores.astype(np.float32)
