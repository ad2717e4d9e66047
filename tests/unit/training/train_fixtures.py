"""Helpers of the training tests (a module name of its own: test directories have no __init__)."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsmith.config import SplitConfig
from recsmith.data.interactions import Interactions
from recsmith.data.splits import Split, split

N_USERS, N_ITEMS, N_CLUSTERS, PER_USER = 120, 60, 4, 12


def planted(n_users: int = N_USERS, n_items: int = N_ITEMS, per_user: int = PER_USER, seed: int = 0) -> Interactions:
    """Users and items in clusters; a user picks 90% of their items from their own cluster."""
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(n_items) % N_CLUSTERS
    users, items = [], []
    for u in range(n_users):
        own = np.flatnonzero(item_cluster == u % N_CLUSTERS)
        n_own = int(per_user * 0.9)
        chosen = list(rng.choice(own, n_own, replace=False))
        others = np.setdiff1d(np.arange(n_items), chosen)
        chosen += list(rng.choice(others, per_user - n_own, replace=False))
        users += [u] * per_user
        items += list(rng.permutation(chosen))  # time order: the held-out last items are typical ones
    frame = pl.DataFrame(
        {
            "user": users,
            "item": items,
            "timestamp": np.arange(len(users)),
            "weight": rng.integers(1, 6, len(users)).astype(float),
        }
    )
    return Interactions(frame, n_users, n_items)


def loo(interactions: Interactions) -> Split:
    return split(interactions, SplitConfig(method="loo", valid=True))


def train_params(**overrides) -> dict:
    """A fast train section: few epochs, no MLflow, one thread (the test machine is shared)."""
    base = {
        "epochs": 3,
        "batch_size": 128,
        "optimizer": {"lr": 0.02},
        "sampler": {"n_negatives": 4},
        "tracking": {"mlflow": False},
        "threads": 1,
    }
    return {**base, **overrides}
