"""The synthetic world of ``recsmith demo lifecycle``: users whose tastes drift after a model is trained.

Items belong to ``n_clusters`` taste clusters of ``items_per_cluster`` items, with a Zipf popularity
inside each cluster; after the drift a new cluster of ``new_items`` items appears (a new collection).
Before the drift every user draws most interactions from their own cluster; after it, a share
``drift_share`` of the users move to another cluster (half of them to the new collection), and new
users arrive with post-drift tastes. Everything is seeded; ids are strings (``u17``, ``i203``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns

DAY = 86_400


@dataclass(frozen=True)
class World:
    n_users: int = 600
    n_new_users: int = 60
    n_clusters: int = 6
    items_per_cluster: int = 50
    new_items: int = 40
    per_user: int = 20
    own_share: float = 0.85
    drift_share: float = 0.6
    days_before: int = 30
    seed: int = 0

    @property
    def n_items(self) -> int:
        return self.n_clusters * self.items_per_cluster

    def cluster_items(self, cluster: int) -> np.ndarray:
        """Item ids of ``cluster`` (the new collection is cluster ``n_clusters``)."""
        if cluster == self.n_clusters:
            return np.arange(self.n_items, self.n_items + self.new_items)
        return np.arange(cluster * self.items_per_cluster, (cluster + 1) * self.items_per_cluster)

    def tastes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(cluster before the drift, cluster after)`` of every user, new users included."""
        rng = np.random.default_rng(self.seed)
        total = self.n_users + self.n_new_users
        before = rng.integers(0, self.n_clusters, total)
        after = before.copy()
        moved = rng.random(total) < self.drift_share
        moved[self.n_users :] = True  # new users arrive with the new tastes
        to_new = rng.random(total) < 0.5
        shifted = (before + 1 + rng.integers(0, self.n_clusters - 1, total)) % self.n_clusters
        after[moved] = np.where(to_new[moved], self.n_clusters, shifted[moved])
        return before, after

    def pick(self, rng: np.random.Generator, cluster: int, n: int, exclude: set[int] | None = None) -> list[int]:
        """``n`` distinct items: mostly from ``cluster`` by Zipf popularity, the rest anywhere."""
        items = self.cluster_items(cluster)
        weights = 1.0 / np.arange(1, items.size + 1) ** 0.8
        chosen: list[int] = []
        taken = set(exclude or ())
        while len(chosen) < n:
            if rng.random() < self.own_share:
                item = int(rng.choice(items, p=weights / weights.sum()))
            else:
                item = int(rng.integers(0, self.n_items))
            if item not in taken:
                taken.add(item)
                chosen.append(item)
        return chosen

    def before_drift(self) -> Dataset:
        """The data v1 is trained on: ``per_user`` interactions per user over ``days_before`` days."""
        rng = np.random.default_rng(self.seed + 1)
        before, _ = self.tastes()
        users, items, times = [], [], []
        for u in range(self.n_users):
            picked = self.pick(rng, int(before[u]), self.per_user)
            users += [u] * len(picked)
            items += picked
            times += sorted(rng.integers(0, self.days_before * DAY, len(picked)).tolist())
        frame = pl.DataFrame({Columns.User: users, Columns.Item: items, Columns.Timestamp: times, Columns.Weight: 1.0})
        names = [f"cluster {c} item {i}" for c in range(self.n_clusters) for i in range(self.items_per_cluster)]
        return Dataset(
            interactions=Interactions(frame.sort([Columns.User, Columns.Timestamp]), self.n_users, self.n_items),
            user_map=IdMap([f"u{u}" for u in range(self.n_users)], kind="user"),
            item_map=IdMap([f"i{i}" for i in range(self.n_items)], kind="item"),
            items=pl.DataFrame({Columns.Item: pl.Series(np.arange(self.n_items), dtype=pl.Int32), Columns.Name: names}),
            manifest={
                "name": "lifecycle-synthetic",
                "source": {"name": "lifecycle-synthetic", "world": self.__dict__},
                "preparation": {"dedupe": "none", "rating_threshold": None},
            },
        )

    def drifted_events(self, start_day: int, days: int, per_user: int = 12) -> list[dict]:
        """Feedback after the drift: each user (new ones too) interacts with ``per_user`` items of
        their new taste, spread over ``days`` days from ``start_day``, oldest first."""
        rng = np.random.default_rng(self.seed + 2)
        _, after = self.tastes()
        events = []
        for u in range(self.n_users + self.n_new_users):
            for item in self.pick(rng, int(after[u]), per_user):
                ts = int((start_day + rng.random() * days) * DAY)
                events.append({"user_id": f"u{u}", "item_id": f"i{item}", "type": "click", "timestamp": ts})
        return sorted(events, key=lambda e: e["timestamp"])
