"""The neural ranker learns from the Trainer, early-stops on its held-out users' candidate
ranking, and survives a save / load through its state."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsmith.data.histories import Histories
from recsmith.data.interactions import Interactions
from recsmith.ranking.config import DINSpec
from recsmith.ranking.din import DINRanker
from recsmith.ranking.rankers import RankingData

N_USERS, N_ITEMS, PER_USER = 120, 30, 8


def _data(seed: int) -> RankingData:
    """Each user's candidates: one relevant, told by feature 0 (noisy) and by the history (the
    relevant item is always the user's last history item + 1)."""
    rng = np.random.default_rng(seed)
    last = rng.integers(0, N_ITEMS - 1, N_USERS)
    frame = pl.DataFrame(
        {
            "user": np.arange(N_USERS),
            "item": last,
            "timestamp": np.zeros(N_USERS, dtype=np.int64),
            "weight": np.ones(N_USERS),
        }
    )
    histories = Histories.from_interactions(Interactions(frame, N_USERS, N_ITEMS))
    users = np.repeat(np.arange(N_USERS), PER_USER)
    items = np.concatenate(
        [np.r_[l + 1, rng.choice(np.setdiff1d(np.arange(N_ITEMS), [l + 1]), PER_USER - 1, replace=False)] for l in last]
    )
    labels = np.tile(np.r_[1.0, np.zeros(PER_USER - 1)], N_USERS).astype(np.float32)
    features = np.stack([labels + rng.normal(0, 0.7, len(labels)), rng.normal(size=len(labels))], axis=1)
    features[rng.random(features.shape) < 0.1] = np.nan
    return RankingData(
        users, items.astype(np.int64), features.astype(np.float32), ["signal", "noise"], labels, histories
    )


def test_din_learns_early_stops_and_roundtrips() -> None:
    spec = DINSpec(dim=8, heads=2, history=3, hidden=[16], dropout=0.0, valid_share=0.25,
                   train={"epochs": 8, "batch_size": 16, "optimizer": {"lr": 0.01}, "threads": 1, "early_stopping": {"patience": 3}})  # fmt: skip
    ranker = DINRanker(spec)
    data = _data(0)
    ranker.fit(data, seed=0)
    assert any("valid/ndcg@10" in epoch for epoch in ranker.model.history)
    test = _data(1)
    scores = ranker.predict(test).reshape(N_USERS, PER_USER)
    top1 = (scores.argmax(axis=1) == 0).mean()
    assert top1 > 0.35, top1  # chance is 1/8; feature 0 alone would give about 0.5
    loaded = DINRanker(spec)
    loaded.load_state({k: np.asarray(v) for k, v in ranker.state().items()})
    np.testing.assert_allclose(loaded.predict(test), ranker.predict(test), rtol=1e-5, atol=1e-6)
    assert ranker.importance() == {}
