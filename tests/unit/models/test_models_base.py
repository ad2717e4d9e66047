"""The base class's own helpers and guards (the per-model contract is in test_models_contract.py)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError, RecsmithError
from recsmith.models import Recommender, create_model, get_model_class
from recsmith.models.base import top_k


def test_top_k_breaks_ties_by_lower_item_id() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        m = int(rng.integers(2, 40))
        k = int(rng.integers(1, m + 3))
        scores = rng.integers(0, 3, size=(5, m)).astype(np.float32)
        scores[rng.random(scores.shape) < 0.2] = -np.inf
        top, top_scores = top_k(scores, k)
        for row in range(5):
            expected = np.lexsort((np.arange(m), -scores[row]))[:k]
            np.testing.assert_array_equal(top[row], expected)
            np.testing.assert_array_equal(top_scores[row], scores[row, expected])


def test_top_k_on_all_equal_scores_returns_first_ids() -> None:
    top, _ = top_k(np.zeros((2, 1000), dtype=np.float32), 7)
    np.testing.assert_array_equal(top, np.tile(np.arange(7), (2, 1)))


def test_config_object_overrides_are_validated() -> None:
    cls = get_model_class("itemknn")
    base = cls.Config(k=5)
    assert cls(base).config is base
    assert cls(base, shrink=2.0).config == cls.Config(k=5, shrink=2.0)
    with pytest.raises(ConfigError, match="itemknn.k"):
        cls(base, k="many")
    with pytest.raises(ConfigError, match="unknown key 'itemknn.nope'"):
        cls(base, nope=1)
    with pytest.raises(ConfigError, match="unknown key 'itemknn.seed'"):
        cls(get_model_class("random").Config(seed=1))  # another model's config


def test_failed_fit_leaves_model_unfitted() -> None:
    model = create_model("ease", {"max_items": 2})
    frame = pl.DataFrame({"user": [0, 1], "item": [0, 2], "timestamp": [0, 0], "weight": [1.0, 1.0]})
    with pytest.raises(RecsmithError, match="max_items"):
        model.fit(Interactions(frame, 2, 3))
    assert not model.is_fitted


def test_empty_interactions_raise() -> None:
    frame = pl.DataFrame({"user": [], "item": [], "timestamp": [], "weight": []})
    with pytest.raises(RecsmithError, match="empty"):
        create_model("popular").fit(Interactions(frame, 2, 3))


def test_load_of_a_non_model_directory_raises(tmp_path) -> None:
    with pytest.raises(RecsmithError, match="not a saved recsmith model"):
        Recommender.load(tmp_path)
