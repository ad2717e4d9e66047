"""SASRec, BERT4Rec and GRU4Rec: the shared model contract plus the sequence-specific behaviour."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from model_contract import RecommenderContract, assert_same_ranking, checkerboard

from fitting import fitted, torch_model
from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import RecsmithError
from recsmith.models import Recommender, create_model
from recsmith.nn.config import LossConfig, SamplerConfig
from recsmith.nn.objectives import Objective
from recsmith.training.trainer import Trainer

_TRAIN = {
    "epochs": 60,
    "batch_size": 16,
    "optimizer": {"lr": 0.01},
    "tracking": {"mlflow": False},
    "checkpoint": {"enabled": False},
    "threads": 1,
}
_NET = {"dim": 16, "max_len": 12, "dropout": 0.0}


class _Sequential(RecommenderContract):
    # the checkerboard lists each user's items in id order, so the item after a history's last one
    # was never observed: it has co-occurrence signal but no next-item signal. Ranking is checked
    # on sequences with a next-item rule instead (test_learns_the_next_item_...).
    ranks_held_out_first = False
    abilities = frozenset({"explanations", "item_similarity", "query_vectors", "sessions"})
    #: whether the tied embeddings of the tiny checkerboard model put same-group items nearest
    #: (SASRec's do; GRU4Rec's and BERT4Rec's order items along the id chain they were shown, so
    #: for them only the structural part of the similar-items check applies)
    similar_items_follow_groups = True

    def check_similar_items_follow_groups(self, items, scores, query, data) -> None:
        if self.similar_items_follow_groups:
            super().check_similar_items_follow_groups(items, scores, query, data)
        else:
            assert np.all(scores <= 1 + 1e-5), "cosine similarities"


class TestSASRec(_Sequential):
    name = "sasrec"
    params = {**_NET, "train": _TRAIN}


class TestSASRecSampledRope(_Sequential):
    name = "sasrec"
    params = {
        **_NET,
        "positions": "rope",
        "heads": 2,
        "train": {**_TRAIN, "loss": {"name": "sampled_softmax"}, "sampler": {"n_negatives": 8}},
    }


class TestBERT4Rec(_Sequential):
    name = "bert4rec"
    params = {**_NET, "layers": 1, "heads": 1, "mask_prob": 0.3, "train": {**_TRAIN, "epochs": 120}}
    similar_items_follow_groups = False


class TestGRU4Rec(_Sequential):
    name = "gru4rec"
    similar_items_follow_groups = False
    params = {**_NET, "train": _TRAIN}


# ---------------------------------------------------------------------- sequence behaviour
def _chain(n_users: int = 30, n_items: int = 12, length: int = 8, seed: int = 0) -> Interactions:
    """Every user walks the cycle 0 -> 1 -> ... -> n_items-1 -> 0 from a random start."""
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(n_users):
        start = rng.integers(n_items)
        for t in range(length):
            users.append(u)
            items.append((start + t) % n_items)
            ts.append(1_600_000_000 + 3600 * t * (u + 1))
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": ts, "weight": np.ones(len(users))})
    return Interactions(frame, n_users, n_items)


@pytest.mark.parametrize("name", ["sasrec", "bert4rec", "gru4rec"])
def test_learns_the_next_item_and_serves_anonymous_sessions(name):
    data = _chain()
    extra = {"last_item_prob": 0.5} if name == "bert4rec" else {}
    model = fitted(name, {**_NET, "max_len": 6, "layers": 1, **extra, "train": {**_TRAIN, "epochs": 80}}, data)
    if name == "bert4rec":
        # masked-item training on 30 short histories fits the windows it saw (the last max_len items
        # of each user) but needs far more data to generalise the cycle to unseen starting points
        reproduced = [
            model.recommend_sessions([model.histories.of(u)[-6:-1]], k=1, filter_seen=False)[0][0, 0]
            == model.histories.of(u)[-1]
            for u in range(data.n_users)
        ]
        assert np.mean(reproduced) >= 0.8
    else:
        # a session the model never saw, any starting point: the next item of the cycle comes first
        items, scores = model.recommend_sessions([[1, 2, 3, 4, 5], [8, 9, 10, 11], [3, 4, 5, 6, 7]], k=2)
        assert items[:, 0].tolist() == [6, 0, 8]
        assert np.all(np.isfinite(scores))
    # a known user's recommendation equals that of an anonymous session with the same history
    users = np.arange(5)
    # (another batch shape: floats agree to a tolerance, ids exactly outside near ties)
    by_user = model.recommend(users, k=4)
    by_session = model.recommend_sessions([model.histories.of(u) for u in users], k=4)
    assert_same_ranking(by_user, by_session, rtol=1e-5, atol=1e-5)


def test_session_validation():
    model = fitted("sasrec", {**_NET, "train": {**_TRAIN, "epochs": 1}}, _chain())
    with pytest.raises(RecsmithError, match="session 1: item ids must lie in"):
        model.recommend_sessions([[1], [99]], k=3)
    items, _ = model.recommend_sessions([[1, 2]], k=3, filter_seen=True)
    assert not set(items[0]) & {1, 2}


def test_batches_score_only_real_positions():
    data = _chain(n_users=6, length=5)
    model = create_model("sasrec", {**_NET, "max_len": 3})
    model.n_users, model.n_items = data.n_users, data.n_items
    model.training_examples(data)
    batch = model.make_batch({"user": torch.arange(6)})
    inputs = batch.inputs
    # max_len 3: the 3 most recent transitions of each 5-item history, no padding rows scored
    assert inputs.tokens.shape == (6, 3) and int(inputs.select.sum()) == 18
    assert batch.positives.shape == batch.users.shape == (18,)
    for u in range(6):
        seq = model.histories.of(u)
        assert inputs.tokens[u].tolist() == seq[-4:-1].tolist()
        assert batch.positives[batch.users == u].tolist() == seq[-3:].tolist()


def test_batches_are_trimmed_to_the_longest_history_and_bucketed():
    lengths = [2, 3, 400, 3, 2, 5]
    users = np.repeat(np.arange(6), lengths)
    items = np.concatenate([np.arange(n) % 50 for n in lengths])
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": np.arange(len(users)), "weight": 1.0})
    data = Interactions(frame, 6, 50)
    model = create_model("sasrec", {**_NET, "max_len": 500})
    model.n_users, model.n_items = 6, 50
    model.training_examples(data)
    short = model.make_batch({"user": torch.tensor([0, 1, 4])})
    assert short.inputs.tokens.shape == (3, 2)  # longest history 3 -> 2 input positions, not 500
    long = model.make_batch({"user": torch.tensor([2])})
    assert long.inputs.tokens.shape == (1, 399) and int(long.inputs.select.sum()) == 399
    order = model.batch_order(
        torch.randperm(6, generator=torch.Generator().manual_seed(0)), 2, torch.Generator().manual_seed(1)
    )
    assert sorted(order.tolist()) == list(range(6))
    pairs = order.view(3, 2).tolist()  # sorted within the bucket: the two shortest share a batch
    assert sorted([0, 4]) in [sorted(p) for p in pairs]


def test_bert4rec_masks_real_positions_only():
    data = _chain(n_users=8, length=6)
    model = create_model("bert4rec", {**_NET, "max_len": 10, "mask_prob": 0.5})
    model.n_users, model.n_items = data.n_users, data.n_items
    model.training_examples(data)
    torch.manual_seed(0)
    batch = model.make_batch({"user": torch.arange(8)})
    tokens, select = batch.inputs.tokens, batch.inputs.select
    assert torch.all(select.any(1))  # every history has at least one masked item
    assert torch.all(tokens[select] == model.mask_token)
    assert torch.all(tokens[~select] != model.mask_token)
    assert not torch.any(select & (tokens == model.pad))


def test_sampled_softmax_pair_path_equals_the_generic_path():
    data = _chain()
    model = create_model("sasrec", {**_NET, "dropout": 0.0})
    model.n_users, model.n_items = data.n_users, data.n_items
    model.training_examples(data)
    network = model.build_network().eval()
    batch = model.make_batch({"user": torch.arange(10)})
    objective = Objective(LossConfig(name="sampled_softmax"), SamplerConfig(n_negatives=5), data.binary, 1.0)
    fast = objective(network, batch, torch.Generator().manual_seed(3))

    class Plain(torch.nn.Module):  # the same network without the (positives, shared) shortcut
        def __init__(self) -> None:
            super().__init__()
            self.net = network

        def forward(self, inputs, items):
            return self.net(inputs, items)

    slow = objective(Plain(), batch, torch.Generator().manual_seed(3))
    torch.testing.assert_close(fast, slow)


def test_item_features_and_time_features(tmp_path):
    data = _chain()
    side = SideData(
        items=pl.DataFrame(
            {
                "item": np.arange(12, dtype=np.int32),
                "category": [f"c{i % 3}" for i in range(12)],
                "tags": [["a", "b"] if i % 2 else [] for i in range(12)],
            }
        )
    )
    params = {
        **_NET,
        "item_features": ["category", "tags"],
        "time_gaps": True,
        "time_of_day": True,
        "train": {**_TRAIN, "epochs": 5},
    }
    model = fitted("sasrec", params, data, side=side)
    assert model.network.items.attrs is not None
    assert model.network.items.attrs.num_embeddings == 3 + 2 + 1  # c0..c2, a, b, and the unused 0
    loaded = Recommender.load(model.save(tmp_path / "m"))  # no side data needed to load
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(model.recommend(users, k=5)[0], loaded.recommend(users, k=5)[0])
    with pytest.raises(RecsmithError, match="item table"):
        fitted("sasrec", params, data)  # asked for item features, given no side data


def test_users_without_two_items_are_not_examples():
    data = checkerboard().train
    model = create_model("gru4rec", _NET)
    model.n_users, model.n_items = data.n_users, data.n_items
    assert len(model.training_examples(data)["user"]) == data.n_users
    one = Interactions(pl.DataFrame({"user": [0, 1], "item": [1, 2], "timestamp": [0, 0], "weight": [1.0, 1.0]}), 2, 3)
    with pytest.raises(RecsmithError, match="two or more"):
        fitted("gru4rec", {**_NET, "train": _TRAIN}, one)


def test_early_stopping_restores_the_best_epoch():
    data = _chain(length=9)
    train = Interactions(
        data.frame.filter(pl.col("timestamp") < pl.col("timestamp").max().over("user")), data.n_users, data.n_items
    )
    valid = Interactions(
        data.frame.filter(pl.col("timestamp") == pl.col("timestamp").max().over("user")), data.n_users, data.n_items
    )
    model, train_config = torch_model(
        "sasrec", {**_NET, "train": {**_TRAIN, "epochs": 30, "early_stopping": {"patience": 3}}}
    )
    result = Trainer(train_config).fit(model, train, valid)
    assert result.best_epoch is not None and result.best_value > 0.5
