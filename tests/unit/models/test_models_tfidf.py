"""``tfidf`` passes the shared contract on item texts that mirror the checkerboard's groups, scores
cold items from their text, weighs recent history, and saves its vocabulary without pickle."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from model_contract import GROUP_ITEMS, N_ITEMS, RecommenderContract, checkerboard

from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import ConfigError, DataError
from recsmith.models import Recommender, create_model

_GROUP_WORDS = ("denim jeans trousers", "silk scarf necklace")


def group_side_data(n_items: int = N_ITEMS, empty: tuple[int, ...] = ()) -> SideData:
    """Item names sharing their group's words plus one word of their own (``empty``: no text)."""
    names = [None if i in empty else f"{_GROUP_WORDS[(i // GROUP_ITEMS) % 2]} style{i:02d}" for i in range(n_items)]
    attrs = [[f"tag{i % 3}", "shop"] for i in range(n_items)]
    items = pl.DataFrame({"item": np.arange(n_items, dtype=np.int32), "name": names, "attributes": attrs})
    return SideData(items=items, item_ids=np.array([f"sku{i}" for i in range(n_items)]))


class TestTfidf(RecommenderContract):
    name = "tfidf"
    params = {"k": 50}
    abilities = frozenset({"explanations", "item_item", "item_similarity"})

    @classmethod
    def side_data(cls) -> SideData:
        return group_side_data()


class TestTfidfRecency(TestTfidf):
    params = {"k": 50, "recency_half_life": 3.0, "ngram_max": 2}


def _fit(params: dict, train: Interactions, side: SideData) -> Recommender:
    return create_model("tfidf", params).with_side_data(side).fit(train)


def test_cold_item_gets_content_scores() -> None:
    """An item without interactions but with its group's words is recommended to that group."""
    board = checkerboard()
    cold = 5  # group 0; drop every interaction with it
    frame = board.train.frame.filter(pl.col("item") != cold)
    train = Interactions(frame, board.train.n_users, board.train.n_items)
    model = _fit({}, train, group_side_data())
    group0 = np.arange(0, board.train.n_users, 2)
    items, _scores = model.recommend(group0, k=2)
    assert np.all((items == cold).any(axis=1)), "the cold item must be in every group-0 user's top 2"
    full = model._score(group0)
    assert np.all(full[:, cold] > 0)
    group1 = np.arange(1, board.train.n_users, 2)
    assert np.all(model._score(group1)[:, cold] == 0), "no shared words with group 1: score 0"
    # itemknn, a collaborative model, cannot score it at all
    knn = create_model("itemknn").fit(train)
    assert np.all(knn._score(group0)[:, cold] == 0)


def test_similar_items_follow_text_and_empty_text_has_no_neighbours() -> None:
    board = checkerboard()
    model = _fit({}, board.train, group_side_data(empty=(3,)))
    items, scores = model.similar_items([0, 3], k=5)
    assert set(items[0]) <= set(range(GROUP_ITEMS)) - {0}
    assert np.all(items[1] == -1) and np.all(np.isneginf(scores[1]))


def test_recency_weights_recent_items_more() -> None:
    """Two histories with the same items in opposite order: the most recent item's group wins."""
    frame = pl.DataFrame({"user": [0, 0, 1, 1], "item": [0, 10, 10, 0], "timestamp": [1, 2, 1, 2], "weight": [1.0] * 4})
    train = Interactions(frame, 2, N_ITEMS)
    plain = _fit({}, train, group_side_data())
    recent = _fit({"recency_half_life": 1.0}, train, group_side_data())
    s_plain, s_recent = plain._score(np.array([0, 1])), recent._score(np.array([0, 1]))
    np.testing.assert_allclose(s_plain[0], s_plain[1])  # order ignored without recency
    g0, g1 = np.arange(1, GROUP_ITEMS), np.arange(GROUP_ITEMS + 1, N_ITEMS)
    assert s_recent[0, g1].max() > s_recent[0, g0].max()  # user 0 saw item 10 (group 1) last
    assert s_recent[1, g0].max() > s_recent[1, g1].max()


def test_list_columns_are_used_and_vocabulary_saved(tmp_path) -> None:
    board = checkerboard()
    model = _fit({"text_columns": ["name", "attributes"]}, board.train, group_side_data())
    assert {"tag0", "shop", "denim", "style07"} <= set(model._vocabulary.tolist())
    loaded = Recommender.load(model.save(tmp_path / "m"))
    with np.load(tmp_path / "m" / "state.npz", allow_pickle=False) as npz:
        assert npz["model.vocabulary"].dtype.kind == "U"
    query = loaded.text_vectors(["silk necklace", "unknownword"])
    np.testing.assert_allclose(query.toarray(), model.text_vectors(["silk necklace", "unknownword"]).toarray())
    sims = (loaded.item_vectors @ query.T).toarray()
    assert np.argmax(sims[:, 0]) >= GROUP_ITEMS  # a group-1 item is closest to "silk necklace"
    assert np.all(sims[:, 1] == 0)


def test_errors_name_the_problem() -> None:
    board = checkerboard()
    with pytest.raises(ConfigError, match="with_side_data"):
        create_model("tfidf").fit(board.train)
    with pytest.raises(ConfigError, match="'colour' is not in the item table"):
        _fit({"text_columns": ["colour"]}, board.train, group_side_data())
    with pytest.raises(ConfigError, match="20 items"):
        _fit({}, board.train, group_side_data(n_items=7))
    with pytest.raises(DataError, match="no words left"):
        _fit({}, board.train, group_side_data(empty=tuple(range(N_ITEMS))))
