"""``hybrid`` passes the shared contract, follows its weight rule exactly (no history: the content
ranking; a long history: the collaborative ranking), scores new items by content, and saves both
of its parts (collaborative torch models included) inside its own state."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from model_contract import N_ITEMS, RecommenderContract, checkerboard
from test_models_tfidf import group_side_data

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError
from recsmith.models import Recommender, create_model
from recsmith.models.content import normalise_rows

_MF_TRAIN = {"epochs": 2, "batch_size": 64, "tracking": {"mlflow": False}, "threads": 1}


class TestHybrid(RecommenderContract):
    name = "hybrid"
    params = {"collaborative": "itemknn", "collaborative_params": {"k": 20}}
    abilities = frozenset({"item_similarity"})

    @classmethod
    def side_data(cls):
        return group_side_data()


class TestHybridEaseRank(TestHybrid):
    params = {
        "collaborative": "ease",
        "collaborative_params": {"l2": 10.0},
        "normalise": "rank",
        "full_weight_after": 20,
    }


def _with_empty_user() -> Interactions:
    """The checkerboard (every user has 9 items, every item 18 users) plus user 40 without history."""
    train = checkerboard().train
    return Interactions(train.frame, train.n_users + 1, train.n_items)


def _parts(params: dict, train: Interactions):
    hybrid = create_model("hybrid", params).with_side_data(group_side_data()).fit(train)
    content = create_model("tfidf", params.get("content_params", {})).with_side_data(group_side_data()).fit(train)
    collab = create_model(params["collaborative"], params.get("collaborative_params", {})).fit(train)
    return hybrid, content, collab


@pytest.mark.parametrize("normalise", ["zscore", "rank"])
def test_weight_rule_reproduces_each_part_exactly(normalise: str) -> None:
    train = _with_empty_user()
    params = {
        "collaborative": "ease",
        "collaborative_params": {"l2": 10.0},
        "full_weight_after": 9,
        "item_full_weight_after": 18,
        "normalise": normalise,
    }
    hybrid, content, collab = _parts(params, train)
    heavy = np.arange(40)  # 9 items each = full_weight_after: purely collaborative
    for filter_seen in (True, False):
        np.testing.assert_array_equal(
            hybrid.recommend(heavy, N_ITEMS, filter_seen=filter_seen)[0],
            collab.recommend(heavy, N_ITEMS, filter_seen=filter_seen)[0],
        )
    np.testing.assert_array_equal(hybrid.recommend([40], N_ITEMS)[0], content.recommend([40], N_ITEMS)[0])
    np.testing.assert_array_equal(hybrid.user_weights(np.array([0, 40])), [1.0, 0.0])


def test_blend_in_between_is_the_documented_formula() -> None:
    train = checkerboard().train
    params = {
        "collaborative": "ease",
        "collaborative_params": {"l2": 10.0},
        "full_weight_after": 12,
        "item_full_weight_after": 0,
    }
    hybrid, content, collab = _parts(params, train)
    users = np.arange(6)
    w = 9 / 12
    expected = w * normalise_rows(collab._score(users), "zscore") + (1 - w) * normalise_rows(
        content._score(users), "zscore"
    )
    np.testing.assert_allclose(hybrid._score(users), expected, rtol=1e-6, atol=1e-6)
    z = normalise_rows(collab._score(users), "zscore")
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-5)


def test_new_item_is_scored_by_content_even_for_heavy_users() -> None:
    board = checkerboard()
    cold = 5  # group 0, no interactions at all
    train = Interactions(board.train.frame.filter(pl.col("item") != cold), board.train.n_users, board.train.n_items)
    params = {"collaborative": "ease", "collaborative_params": {"l2": 10.0}, "full_weight_after": 1}
    hybrid, content, collab = _parts(params, train)
    group0 = np.arange(0, board.train.n_users, 2)
    assert np.all(hybrid.item_weights()[cold] == 0)
    np.testing.assert_array_equal(
        hybrid._score(group0)[:, cold], normalise_rows(content._score(group0), "zscore")[:, cold]
    )
    items, _ = hybrid.recommend(group0, k=2)
    assert np.all((items == cold).any(axis=1)), "the new item reaches its group's top 2 through its text"
    assert np.all(collab._score(group0)[:, cold] == 0), "the collaborative part knows nothing of it"


def test_similar_items_come_from_the_trusted_part() -> None:
    board = checkerboard()
    cold = 5
    train = Interactions(board.train.frame.filter(pl.col("item") != cold), board.train.n_users, board.train.n_items)
    hybrid, content, collab = _parts({"collaborative": "itemknn"}, train)
    np.testing.assert_array_equal(hybrid.similar_items([0], 4)[0], collab.similar_items([0], 4)[0])
    np.testing.assert_array_equal(hybrid.similar_items([cold], 4)[0], content.similar_items([cold], 4)[0])


@pytest.mark.slow  # builds and trains a torch network
def test_nested_torch_part_roundtrip(tmp_path) -> None:
    train = checkerboard().train
    params = {"collaborative": "mf", "collaborative_params": {"dim": 4, "train": _MF_TRAIN}}
    hybrid = create_model("hybrid", params).with_side_data(group_side_data()).fit(train)
    loaded = Recommender.load(hybrid.save(tmp_path / "h"))
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(hybrid.recommend(users, 5)[0], loaded.recommend(users, 5)[0])
    np.testing.assert_allclose(hybrid.recommend(users, 5)[1], loaded.recommend(users, 5)[1])
    with np.load(tmp_path / "h" / "state.npz", allow_pickle=False) as npz:
        keys = npz.files
    assert any(k.startswith("model.content.vocabulary") for k in keys)
    assert any(k.startswith("model.collab.") for k in keys)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"hybrid\.collaborative: .*unknown model 'nope'; available models: .*ease"):
        create_model("hybrid", {"collaborative": "nope"})
    with pytest.raises(ConfigError, match=r"hybrid\.content: .*'ease' does not read item attributes"):
        create_model("hybrid", {"content": "ease"})
    with pytest.raises(ConfigError, match=r"hybrid\.collaborative_params: .*unknown key 'ease\.l3'"):
        create_model("hybrid", {"collaborative_params": {"l3": 1}})
    with pytest.raises(ConfigError, match=r"hybrid\.content: .*another hybrid"):
        create_model("hybrid", {"content": "hybrid"})
