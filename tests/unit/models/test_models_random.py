"""``random``: seeded, per-user stable, roughly uniform."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsmith.data.interactions import Interactions
from recsmith.models import create_model

N_USERS, N_ITEMS = 2000, 10


def _fit(seed: int):
    # one interaction per user on item 0, so filtering leaves items 1..9 for everybody
    frame = pl.DataFrame(
        {"user": np.arange(N_USERS), "item": np.zeros(N_USERS, dtype=int), "timestamp": 0, "weight": 1.0}
    )
    return create_model("random", {"seed": seed}).fit(Interactions(frame, N_USERS, N_ITEMS))


def test_scores_depend_only_on_seed_user_and_item() -> None:
    model = _fit(7)
    users = np.arange(N_USERS)
    all_at_once = model.recommend(users, k=5)
    one_by_one = [model.recommend([u], k=5) for u in users[:50]]
    np.testing.assert_array_equal(all_at_once[0][:50], np.vstack([r[0] for r in one_by_one]))
    reversed_order = model.recommend(users[::-1], k=5)
    np.testing.assert_array_equal(all_at_once[1], reversed_order[1][::-1])
    np.testing.assert_array_equal(all_at_once[0], _fit(7).recommend(users, k=5)[0])


def test_different_seeds_and_users_differ() -> None:
    a, _ = _fit(1).recommend(np.arange(200), k=9)
    b, _ = _fit(2).recommend(np.arange(200), k=9)
    assert np.mean(a != b) > 0.5
    assert len({tuple(row) for row in a}) > 150  # users get different orders


def test_roughly_uniform() -> None:
    items, scores = _fit(0).recommend(np.arange(N_USERS), k=1)
    counts = np.bincount(items[:, 0], minlength=N_ITEMS)[1:]  # item 0 is seen by everyone
    expected = N_USERS / (N_ITEMS - 1)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30, counts  # 8 degrees of freedom: p ~ 2e-4
    assert np.all((scores >= 0) & (scores < 1))
