"""``tiger`` passes the shared model contract (with synthetic content vectors as side data) and keeps
its own promises: semantic ids saved with the model, cold-start items reachable, clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from model_contract import GROUP_ITEMS, N_ITEMS, Checkerboard, RecommenderContract, checkerboard

from fitting import fitted, torch_model
from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import ConfigError, RecsmithError
from recsmith.models import Recommender

_TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": {"lr": 0.01}, "tracking": {"mlflow": False}, "threads": 1}
# tiny: 2 levels of 4 codes, one encoder and one decoder block of width 32, a beam covering all items
_PARAMS = {
    "embedding_column": "vector",
    "rq_levels": 2,
    "rq_codes": 4,
    "rq_hidden": [16],
    "rq_latent_dim": 4,
    "rq_epochs": 100,
    "rq_batch_size": 20,
    "rq_lr": 0.01,
    "dim": 32,
    "heads": 2,
    "ff_dim": 64,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "dropout": 0.0,
    "user_buckets": 8,
    "beam": N_ITEMS,
    "train": _TRAIN,
}


def shuffled_checkerboard(seed: int = 0) -> Checkerboard:
    """The contract's checkerboard with each user's items in random time order.

    The contract's timestamps follow item ids, so every group-0 history ends with item 9, which
    nothing ever follows in training: a next-item model has no signal for that query. In random
    order the history still tells the group, which is what the contract checks."""
    data = checkerboard()
    order = np.random.default_rng(seed).permutation(len(data.train))
    frame = data.train.frame.with_columns(pl.Series("timestamp", order))
    return Checkerboard(Interactions(frame, data.train.n_users, data.train.n_items), data.held_out)


def content(n_items: int = N_ITEMS, seed: int = 0) -> SideData:
    """Content vectors clustered by checkerboard group (the group is what the content tells)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, 16)) * 3
    vectors = centres[(np.arange(n_items) // GROUP_ITEMS) % 2] + rng.normal(size=(n_items, 16)) * 0.5
    return SideData(items=pl.DataFrame({"item": np.arange(n_items), "vector": vectors.tolist()}))


class TestTiger(RecommenderContract):
    name = "tiger"
    params = _PARAMS
    abilities = frozenset({"explanations", "item_similarity", "session_lists", "sessions"})
    # a generative model: for 6 of the 20 checked users removing any one history item raises the
    # log-probability of the first recommendation's id (the others keep supporting it)
    unexplained_share = 0.4

    def make(self, **overrides: Any) -> Recommender:
        return super().make(**overrides).with_side_data(content())

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Checkerboard:
        return shuffled_checkerboard()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, data: Checkerboard) -> Recommender:
        return fitted(cls.name, cls.params, data.train, side=content())

    def test_semantic_ids_are_unique_and_saved(self, model: Recommender, tmp_path) -> None:
        assert model.ids.shape == (N_ITEMS, 3)
        assert len(np.unique(model.ids, axis=0)) == N_ITEMS
        stats = model.id_stats
        assert set(stats) >= {"usage", "perplexity", "collision_rate", "max_group", "unique_codes"}
        assert model.vocab_sizes == [4, 4, stats["max_group"]]
        loaded = Recommender.load(model.save(tmp_path / "m"))  # no side data needed
        np.testing.assert_array_equal(loaded.ids, model.ids)
        assert loaded.id_stats == stats

    def test_groups_get_different_first_codes(self, model: Recommender) -> None:
        first = model.ids[:, 0]
        assert not set(first[:GROUP_ITEMS]) & set(first[GROUP_ITEMS:])

    def test_recommendations_are_distinct_catalogue_items(self, model: Recommender, data: Checkerboard) -> None:
        items, _ = model.recommend(np.arange(data.train.n_users), k=8, filter_seen=False)
        for row in items:
            assert len(set(row)) == len(row) and row.min() >= 0 and row.max() < N_ITEMS


def test_beam_bounds_the_list_length() -> None:
    data = shuffled_checkerboard()
    model = fitted("tiger", {**_PARAMS, "beam": 5, "train": {**_TRAIN, "epochs": 2}}, data.train, side=content())
    items, scores = model.recommend(np.arange(6), k=10, filter_seen=False)
    assert np.all((items >= 0).sum(1) == 5) and np.all(np.isneginf(scores[:, 5:]))


@pytest.mark.slow
def test_cold_item_is_reachable_from_content() -> None:
    """Item 19 never occurs in training; its id comes from its content (group 1), so group-1 users
    get it generated like any other item of their group."""
    data = shuffled_checkerboard()
    frame = data.train.frame.filter(pl.col("item") != N_ITEMS - 1)
    train = Interactions(frame, data.train.n_users, data.train.n_items)
    model = fitted("tiger", _PARAMS, train, side=content())
    group1 = np.arange(1, data.train.n_users, 2)
    items, _scores = model.recommend(group1, k=N_ITEMS, filter_seen=False)
    assert np.isin(N_ITEMS - 1, items)
    rank = np.array([list(row).index(N_ITEMS - 1) for row in items])
    assert np.median(rank) < GROUP_ITEMS  # ranked among its group, above the other group's items


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [{"quantiser": "rqkmeans"}, {"positions": "learned"}])
def test_variants_learn_the_checkerboard(overrides: dict) -> None:
    data = shuffled_checkerboard()
    model = fitted("tiger", {**_PARAMS, **overrides}, data.train, side=content())
    items, _ = model.recommend(np.arange(data.train.n_users), k=1)
    np.testing.assert_array_equal(items[:, 0], data.held_out)


def test_errors_say_what_to_do() -> None:
    data = shuffled_checkerboard()
    with pytest.raises(ConfigError, match="with_side_data"):
        fitted("tiger", _PARAMS, data.train)
    with pytest.raises(ConfigError, match="network_loss"):
        fitted("tiger", {**_PARAMS, "train": {**_TRAIN, "loss": {"name": "bpr"}}}, data.train, side=content())
    with pytest.raises(ConfigError, match="must divide"):
        torch_model("tiger", {**_PARAMS, "dim": 30, "heads": 4})
    with pytest.raises(Exception, match="20 items"):
        fitted("tiger", _PARAMS, data.train, side=content(n_items=12))


def test_semantic_ids_cached_in_the_dataset_cache(tmp_path) -> None:
    data = shuffled_checkerboard()
    side = content()
    side = SideData(items=side.items, cache_dir=tmp_path)
    first = fitted("tiger", {**_PARAMS, "train": {**_TRAIN, "epochs": 1}}, data.train, side=side)
    files = list((tmp_path / "tiger").glob("*.npz"))
    assert len(files) == 1
    again = fitted("tiger", {**_PARAMS, "train": {**_TRAIN, "epochs": 1}}, data.train, side=side)
    np.testing.assert_array_equal(first.ids, again.ids)
    fitted("tiger", {**_PARAMS, "rq_codes": 3, "train": {**_TRAIN, "epochs": 1}}, data.train, side=side)
    assert len(list((tmp_path / "tiger").glob("*.npz"))) == 2  # another quantiser, another entry


def test_cold_share_adds_unseen_items_under_generated_prefixes(tmp_path) -> None:
    """The paper's cold-start retrieval: item 19 is never in training; with a beam of 4 it is seldom
    generated, but ``cold_share`` lists it right below a generated item of its content prefix."""
    data = shuffled_checkerboard()
    train = Interactions(data.train.frame.filter(pl.col("item") != N_ITEMS - 1), data.train.n_users, N_ITEMS)
    params = {**_PARAMS, "beam": 4, "cold_share": 0.25, "train": {**_TRAIN, "epochs": 3}}
    model = fitted("tiger", params, train, side=content())
    users = np.arange(data.train.n_users)
    items, scores = model.recommend(users, k=5, filter_seen=False)
    prefix = [tuple(row) for row in model.ids[:, :-1]]
    for row, _score in zip(items, scores):
        generated = [i for i in row if i >= 0 and i != N_ITEMS - 1]
        assert len(generated) == 4  # the beam's items are all still there
        if any(prefix[i] == prefix[N_ITEMS - 1] for i in generated):
            assert N_ITEMS - 1 in row
    assert np.isin(N_ITEMS - 1, items)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.recommend(users, k=5, filter_seen=False)[0], items)
    assert int(loaded.network.cold.sum()) == 1  # which items are cold is saved with the weights


def test_sessions_score_like_users_and_anonymous_sessions_work(tmp_path) -> None:
    """A known user's own history scored as a session (with the user) is exactly that user's
    scores; an anonymous session of one group's items gets that group's items."""
    data = shuffled_checkerboard()
    model = fitted("tiger", _PARAMS, data.train, side=content())
    users = np.arange(6)
    histories = [model.histories.of(int(u)) for u in users]
    np.testing.assert_allclose(model.session_scores(histories, users=users), model._score(users), atol=1e-5)
    group1 = [list(range(GROUP_ITEMS + 1, GROUP_ITEMS + 5))]  # anonymous: the average user token
    items, _scores = model.recommend_sessions(group1, k=3)
    assert np.all(items[0] >= GROUP_ITEMS) and not set(items[0]) & set(group1[0])  # its group, unseen
    loaded = Recommender.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.recommend_sessions(group1, k=3)[0], items)
    with pytest.raises(RecsmithError, match="session 0"):
        model.recommend_sessions([[N_ITEMS]])
    with pytest.raises(RecsmithError, match="one user id"):
        model.session_scores([[1], [2]], users=[0])
