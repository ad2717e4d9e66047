"""``two_stage`` end to end on small synthetic H&M data (prices from the feature store, product
groups, a torch source trained by the Trainer): the benchmark runs it beside its retrievers and
writes feature importance and candidate recall; unknown-history users get the flagged popularity
fallback; a saved model scores exactly like the fitted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from recsmith.cli.main import main
from recsmith.data.interactions import Interactions
from recsmith.data.synthetic import write_hm_csv_chunked
from recsmith.models import Recommender, create_model
from recsmith.ranking.model import FALLBACK

SIZES = {"n_customers": 300, "n_articles": 150, "n_transactions": 6000, "start": "2020-06-01", "days": 60}
TWO_STAGE = {
    "sources": {
        "again": {"kind": "repurchase", "n": 10, "half_life_days": 14},
        "trending": {"kind": "popular", "n": 10},
        "together": {"kind": "cooccurrence", "n": 10, "max_days": 7},
        "product": {"kind": "same_group", "column": "product_code", "n": 5},
        "mf": {
            "kind": "model",
            "model": "mf",
            "n": 10,
            "params": {
                "dim": 8,
                "train": {
                    "epochs": 3,
                    "batch_size": 256,
                    "threads": 1,
                    "early_stopping": {"patience": 1},
                    "validation": {"filter_seen": False},
                },
            },
        },
    },
    "candidates": {"filter_seen": False},
    "holdout": {"method": "days", "days": 7},
    "features": ["user_count", "user_price_mean", "item_trend", "ui_count", "ui_price_ratio", "group_share"],
    "aggregates": {"groups": ["product_type_name"]},
    "ranker": {"n_estimators": 20, "min_data_in_leaf": 5, "threads": 1},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("two_stage")
    write_hm_csv_chunked(root / "raw", block_transactions=6000, seed=3, **SIZES)
    assert main(["data", "prepare", "hm", "--raw", str(root / "raw"), "--out", str(root / "hm")]) == 0
    config = {
        "data": {"source": "hm"},
        "features": {"preset": "hm"},
        "split": {"method": "temporal", "test_time": "2020-07-24", "valid": True, "valid_seconds": 7 * 86_400},
        "models": {"two_stage": TWO_STAGE},
        "evaluation": {"ks": [12], "filter_seen": False, "select_metric": "map@12", "bootstrap": 50},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["benchmark", "--data", str(root / "hm"), "--models", "popular,two_stage"]
    assert main([*args, "--config", str(root / "config.yaml"), "--out", str(root / "run")]) == 0
    return root / "run"


def test_benchmark_board_importance_and_candidate_recall(run: Path) -> None:
    board = json.loads((run / "leaderboard.json").read_text())
    assert 0.0 < board["two_stage"]["test"]["map@12"] <= 1.0
    assert "vs_baseline" in board["two_stage"] and "ci" in board["two_stage"]
    importance = json.loads((run / "models" / "two_stage" / "feature_importance.json").read_text())
    assert {"mf:score", "again:rank", "user_price_mean", "ui_price_ratio", "group_share:product_type_name"} <= set(
        importance
    )
    assert list(importance.values()) == sorted(importance.values(), reverse=True)
    report = json.loads((run / "models" / "two_stage" / "candidates.json").read_text())
    recall = report["holdout"]
    assert set(recall) == {"again", "trending", "together", "product", "mf", "union"}
    assert all(0.0 <= r["recall"] <= 1.0 for r in recall.values())
    assert recall["union"]["recall"] >= max(r["recall"] for k, r in recall.items() if k != "union")
    assert report["epochs"]["mf"] >= 1  # early-stopped on the holdout, refitted for that many epochs


def test_saved_model_scores_like_the_fitted_one(run: Path) -> None:
    model = Recommender.load(run / "models" / "two_stage")
    users = np.arange(min(model.n_users, 200))
    items, scores = model.recommend(users, k=12, filter_seen=False)
    assert np.all(np.isfinite(scores)) and np.all(scores[:, 0] > FALLBACK + 1)
    again = Recommender.load(run / "models" / "two_stage")
    np.testing.assert_array_equal(again.recommend(users, k=12, filter_seen=False)[0], items)


def test_a_user_without_candidates_gets_the_popularity_fallback() -> None:
    # users 0, 1 and 3 buy their first item again; user 2 has no history, and every source reads it
    frame = pl.DataFrame(
        {
            "user": [0, 0, 0, 1, 1, 1, 3, 3, 3],
            "item": [0, 1, 0, 1, 2, 1, 2, 3, 2],
            "timestamp": [0, 1, 2] * 3,
            "weight": [1.0] * 9,
        }
    )
    sources = {"again": {"kind": "repurchase", "n": 3}, "next": {"kind": "cooccurrence", "n": 3}}
    params = {
        "sources": sources,
        "candidates": {"filter_seen": False},
        "ranker": {"min_data_in_leaf": 1, "valid_share": 0.0, "n_estimators": 5},
    }
    model = create_model("two_stage", params).fit(Interactions(frame, 4, 5))
    np.testing.assert_array_equal(model.fallback_users([0, 1, 2]), [False, False, True])
    items, scores = model.recommend([2], k=5)
    np.testing.assert_array_equal(items[0], model.recommend_cold(5)[0])  # popularity order, ties by id
    assert np.all(scores <= FALLBACK + 1)
