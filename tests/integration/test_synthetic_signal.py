"""The synthetic data has learnable structure: on the default size, under the demo protocol, ItemKNN
beats Popular by at least 20% relative NDCG@10 on test, and Popular beats Random."""

from pathlib import Path

import pytest

from recsmith.config import load_config
from recsmith.data.prepare import prepare, read_source
from recsmith.data.splits import split
from recsmith.pipelines.benchmark import evaluate_model


@pytest.fixture(scope="module")
def parts():
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")
    dataset = prepare(read_source(cfg.data), cfg.data)
    return cfg, split(dataset.interactions, cfg.split)


def test_itemknn_beats_popular_by_20_percent(parts):
    cfg, p = parts
    scores = {name: evaluate_model(name, p, cfg)[0].test["ndcg@10"] for name in ("random", "popular", "itemknn")}
    assert scores["itemknn"] >= 1.2 * scores["popular"], scores
    assert scores["popular"] >= 2 * scores["random"], scores
