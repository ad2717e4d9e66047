"""``two_stage`` passes the shared contract, in both candidate modes: sources that may propose the
user's own items (repeat consumption, H&M) and sources that never do (Amazon Beauty). The ranking
layer's own behaviour is tested in tests/unit/ranking/."""

from __future__ import annotations

import numpy as np
from model_contract import N_ITEMS, RecommenderContract

from recsmith.ranking.model import FALLBACK

#: small enough for the 40-user checkerboard: LightGBM needs leaves of a few rows and few rounds
_RANKER = {"min_data_in_leaf": 1, "n_estimators": 30, "valid_share": 0.0, "threads": 1}
_SOURCES = {
    "itemknn": {"kind": "model", "model": "itemknn", "n": 8},
    "again": {"kind": "repurchase", "n": 5},
    "pop": {"kind": "popular", "n": 3, "half_life_days": None},
    "next": {"kind": "cooccurrence", "n": 5, "window": 2},
}


class TestTwoStage(RecommenderContract):
    name = "two_stage"
    abilities = frozenset({"sessions", "session_lists"})  # any history: the whole pipeline; known users: stored lists
    params = {
        "sources": _SOURCES,
        "candidates": {"filter_seen": False},
        "features": ["user_count", "item_count", "ui_count", "ui_events_since_last"],
        "ranker": _RANKER,
    }


class TestTwoStageUnseenCandidates(TestTwoStage):
    """Sources never propose a user's own items: those get the fallback score, below every
    candidate (still finite, in popularity order), so ``filter_seen=False`` lists them after the
    candidates."""

    # no popularity features: on a 40-user checkerboard the holdout items are exactly the rarest
    # ones of the shortened histories, a pattern the ranker would learn and the full data lacks.
    # itemknn proposes one item: with the holdout item gone a user misses two items of their group
    # (the checkerboard's and the holdout's) whose features are alike, but only one is labelled
    params = {
        **TestTwoStage.params,
        "sources": {"itemknn": {**_SOURCES["itemknn"], "n": 1}, "next": _SOURCES["next"]},
        "candidates": {"filter_seen": True},
        "features": ["user_count"],
    }

    def test_without_filter_seen_training_items_can_appear(self, model, data) -> None:
        seen = data.train.binary
        items, scores = model.recommend(np.arange(data.train.n_users), k=N_ITEMS, filter_seen=False)
        assert not model.fallback_users(np.arange(data.train.n_users)).any()
        band = FALLBACK + 1.0  # fallback scores lie in [FALLBACK, FALLBACK + 1]
        for u, row in enumerate(items):
            own = np.isin(row, seen[u].indices)
            assert own.any() and np.all(np.isfinite(scores[u]))
            assert np.all(scores[u, own] <= band), f"user {u}: an own item was proposed"
            assert np.any(scores[u] > band) and np.all(~own[scores[u] > band])


class TestTwoStageDIN(TestTwoStage):
    """The neural ranker (target attention, trained by the Trainer) in place of LightGBM."""

    params = {
        **TestTwoStage.params,
        "ranker": {
            "name": "din",
            "dim": 8,
            "heads": 2,
            "history": 5,
            "hidden": [16],
            "dropout": 0.0,
            "valid_share": 0.0,
            "train": {"epochs": 15, "batch_size": 8, "optimizer": {"lr": 0.01}, "threads": 1},
        },
    }
