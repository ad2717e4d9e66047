"""``two_tower`` passes the shared contract (ids + history; and content: categories, text, user
features, attention pooling), ranks never-seen items by their text, keeps a frozen text encoder
frozen and fine-tunes an unfrozen one with its own learning rate, and exposes vectors whose dot
product is its score."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from model_contract import GROUP_ITEMS, N_ITEMS, N_USERS, RecommenderContract, checkerboard

from fitting import fitted, torch_model
from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import ConfigError
from recsmith.models import Recommender, create_model
from recsmith.models.two_tower import example_histories

# tiny and fast: the checkerboard has 40 users x 20 items, 360 examples
_TRAIN = {"epochs": 30, "batch_size": 64, "optimizer": {"lr": 0.05}, "tracking": {"mlflow": False}, "threads": 1}
# the checkerboard's order is arbitrary (items by id), so its histories are sets: co-occurrence
_SMALL = {"dim": 16, "embedding_dim": 8, "hidden": [32], "history_mode": "others"}

_TOPICS = (
    [
        "space battle with laser ships",
        "galaxy war of the robots",
        "alien invasion in outer space",
        "rocket pilots fight in orbit",
        "starship captain in a galactic war",
    ],
    [
        "cooking pasta in an italian kitchen",
        "baking bread and cakes at home",
        "a chef cooks french soup",
        "recipes for healthy salads",
        "grilling vegetables for dinner",
    ],
)


def topic_side_data(n_items: int = N_ITEMS, extra_names: tuple[str, ...] = ()) -> SideData:
    """Item names on their checkerboard group's topic (then ``extra_names``), an uninformative
    category, and a user segment column."""
    names = [f"{_TOPICS[(i // GROUP_ITEMS) % 2][i % 5]} part {i}" for i in range(n_items - len(extra_names))]
    names += list(extra_names)
    items = pl.DataFrame(
        {
            "item": np.arange(n_items, dtype=np.int32),
            "name": names,
            "category": [[f"c{i % 3}", "all"] for i in range(n_items)],
        }
    )
    users = pl.DataFrame({"user": np.arange(N_USERS, dtype=np.int32), "segment": [f"s{u % 4}" for u in range(N_USERS)]})
    return SideData(items=items, users=users, item_ids=np.array([f"sku{i}" for i in range(n_items)]))


class TestTwoTower(RecommenderContract):
    name = "two_tower"
    params = {**_SMALL, "train": _TRAIN}
    abilities = frozenset({"embeddings", "explanations", "fold_in", "item_similarity", "query_vectors", "sessions"})


class TestTwoTowerContent(RecommenderContract):
    name = "two_tower"
    params = {
        **_SMALL,
        "item_columns": ["category"],
        "user_columns": ["segment"],
        "text_columns": ["name"],
        "history_pooling": "attention",
        "train": _TRAIN,
    }
    abilities = frozenset({"embeddings", "explanations", "fold_in", "item_similarity", "query_vectors", "sessions"})

    @classmethod
    def side_data(cls) -> SideData:
        return topic_side_data()

    def test_state_holds_vocabularies_and_the_text_matrix(self, model: Recommender, tmp_path) -> None:
        from recsmith.encoders import encode_texts

        path = model.save(tmp_path / "model")
        with np.load(path / "state.npz", allow_pickle=False) as npz:
            assert npz["model.item_feature.category.vocab"].tolist() == ["all", "c0", "c1", "c2"]
            assert npz["model.user_feature.segment.vocab"].tolist() == ["s0", "s1", "s2", "s3"]
            text = npz["model.text"]
        expected = encode_texts(topic_side_data().item_texts(["name"]), progress=False)
        np.testing.assert_allclose(text, expected, atol=1e-6)


# ---------------------------------------------------------------------- cold items, text encoder
def test_cold_items_are_scored_by_their_text() -> None:
    board = checkerboard()
    train = Interactions(board.train.frame, board.train.n_users, N_ITEMS + 2)  # items 20, 21: never seen
    side = topic_side_data(N_ITEMS + 2, ("robots at war among the stars", "a kitchen full of fresh pasta"))
    params = {**_SMALL, "text_columns": ["name"], "train": {**_TRAIN, "epochs": 15}}
    scores = fitted("two_tower", params, train, side=side)._score(np.arange(N_USERS))
    assert np.all(np.isfinite(scores[:, N_ITEMS:]))
    space_fans, cooks = np.arange(0, N_USERS, 2), np.arange(1, N_USERS, 2)
    assert np.all(scores[space_fans, N_ITEMS] > scores[space_fans, N_ITEMS + 1])
    assert np.all(scores[cooks, N_ITEMS + 1] > scores[cooks, N_ITEMS])
    # without text, a cold item has no input at all but a constant: every cold item scores alike
    plain = fitted("two_tower", {**_SMALL, "train": {**_TRAIN, "epochs": 2}}, train)._score(np.arange(4))
    np.testing.assert_allclose(plain[:, N_ITEMS], plain[:, N_ITEMS + 1])


def _encoder_weights(model: Recommender) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.network.item_tower.text_encoder.state_dict().items()}


def test_frozen_text_is_never_trained_and_unfrozen_encoder_is() -> None:
    from recsmith.encoders import DEFAULT_TEXT_MODEL, TextEncoder

    board, side = checkerboard(), topic_side_data()
    one_step = {**_TRAIN, "epochs": 1, "batch_size": 512}  # 360 examples: a single optimizer step
    frozen = fitted("two_tower", {**_SMALL, "text_columns": ["name"], "train": one_step}, board.train, side=side)
    text_before = frozen.text.copy()
    assert frozen.network.item_tower.text_encoder is None
    assert not any("text_encoder" in n for n, p in frozen.network.named_parameters())
    np.testing.assert_array_equal(frozen.network.item_tower.text.numpy(), text_before)

    tuned_params = {**_SMALL, "text_columns": ["name"], "text_freeze": False, "text_lr": 1e-4, "train": one_step}
    groups = torch_model("two_tower", tuned_params)[1].optimizer.param_groups
    assert [(g.params, g.lr) for g in groups] == [("item_tower.text_encoder.*", 1e-4)]
    pretrained = {k: v.clone() for k, v in TextEncoder(DEFAULT_TEXT_MODEL, freeze=False).state_dict().items()}
    tuned = fitted("two_tower", tuned_params, board.train, side=side)
    after = _encoder_weights(tuned)
    changed = [k for k in pretrained if not torch.equal(pretrained[k], after[k])]
    assert any("encoder.layer.0.attention" in k for k in changed), "the fine-tuned encoder did not move"
    assert tuned.history[-1]["lr/item_tower.text_encoder.*"] == pytest.approx(1e-4)
    # the tuned item vectors come from the tuned encoder, not from the frozen matrix
    assert np.all(np.isfinite(tuned.item_embeddings()))


# ---------------------------------------------------------------------- vectors, histories, training
def test_user_and_item_vectors_are_unit_and_serve_as_tables() -> None:
    """The embeddings are the towers' unit vectors (scores divide them by the temperature; the
    contract test checks that they reproduce the scores) and the bundle's index holds them as is."""
    from recsmith.serving.bundle import item_vectors

    model = fitted("two_tower", {**_SMALL, "train": {**_TRAIN, "epochs": 3}}, checkerboard().train)
    q, v = model.user_embeddings(), model.item_embeddings()
    assert q.shape == (N_USERS, 16) and v.shape == (N_ITEMS, 16)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert model.embedding_scale() == pytest.approx(1 / model.config.temperature)
    assert model.item_biases() is None
    np.testing.assert_array_equal(item_vectors(model), v)


def test_example_histories_past_and_others() -> None:
    # one user with items 10, 11, 12, 13 (positions 0-3), another with 20, 21 (positions 4, 5)
    offsets, items = torch.tensor([0, 4, 6]), torch.tensor([10, 11, 12, 13, 20, 21])
    users, positions = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 2, 3, 5])
    past = example_histories(offsets, items, users, positions, 3, "past")
    assert past.tolist() == [[-1, -1, -1], [-1, 10, 11], [10, 11, 12], [-1, -1, 20]]
    others = example_histories(offsets, items, users, positions, 3, "others")
    assert others.tolist() == [[11, 12, 13], [10, 11, 13], [10, 11, 12], [-1, -1, 20]]


def test_trains_with_hard_negatives_and_sampled_softmax() -> None:
    train = {
        **_TRAIN,
        "epochs": 2,
        "loss": {"name": "sampled_softmax", "logq_correction": False},
        "sampler": {"name": "hard", "n_negatives": 8, "hard_pool": 5, "refresh_every": 2},
    }
    model = fitted("two_tower", {**_SMALL, "train": train}, checkerboard().train)
    assert len(model.history) == 2 and np.isfinite(model.history[-1]["loss"])
    assert "sampler/neg_score" in model.history[-1]


def test_training_defaults_sit_under_the_models_own_overrides() -> None:
    cfg = torch_model("two_tower", {"train": {"epochs": 3}})[1]
    assert cfg.loss.name == "infonce" and cfg.epochs == 3


def test_default_text_model_is_the_encoders_default() -> None:
    from recsmith.encoders import DEFAULT_TEXT_MODEL

    assert create_model("two_tower").config.text_model == DEFAULT_TEXT_MODEL


# ---------------------------------------------------------------------- errors
def test_errors_say_what_is_missing() -> None:
    train = checkerboard().train
    with pytest.raises(ConfigError, match="with_side_data"):
        fitted("two_tower", {"text_columns": ["name"], "train": _TRAIN}, train)
    with pytest.raises(ConfigError, match="'colour' is not in the item table"):
        fitted("two_tower", {"item_columns": ["colour"], "train": _TRAIN}, train, side=topic_side_data())
    with pytest.raises(ConfigError, match="item tower has no input"):
        fitted("two_tower", {"item_id": False, "train": _TRAIN}, train)
    with pytest.raises(ConfigError, match="user tower has no input"):
        fitted("two_tower", {"history_len": 0, "train": _TRAIN}, train)
    with pytest.raises(ConfigError, match="not sparse_adam"):
        fitted("two_tower", {"train": {**_TRAIN, "optimizer": {"name": "sparse_adam"}}}, train)


def test_past_histories_learn_what_comes_next() -> None:
    # 20 items on a ring; user u watched 6 consecutive items from u % 20 on, in order. The next item
    # (start + 6) and the one before the block (start - 1) both co-occur with the block; only the
    # order tells them apart, and only "past" histories (the items before each example) see order.
    n_users, n_items, span = 40, 20, 6
    start = np.arange(n_users) % n_items
    items = (start[:, None] + np.arange(span)[None, :]) % n_items
    frame = pl.DataFrame(
        {
            "user": np.repeat(np.arange(n_users), span),
            "item": items.ravel(),
            "timestamp": np.tile(np.arange(span), n_users),
            "weight": np.ones(n_users * span),
        }
    )
    train = Interactions(frame, n_users, n_items)
    rows = np.arange(n_users)
    ahead = {}
    for mode in ("past", "others"):
        scores = fitted("two_tower", {**_SMALL, "history_mode": mode, "train": {**_TRAIN, "epochs": 10}}, train)._score(
            rows
        )
        ahead[mode] = np.mean(scores[rows, (start + span) % n_items] > scores[rows, (start - 1) % n_items])
    assert ahead["past"] >= 0.9
    assert ahead["others"] < 0.9  # the control: without order, the two ends are alike
