"""The contract every recommender passes: subclass :class:`RecommenderContract` in a ``Test*`` class.

Example::

    class TestItemKNN(RecommenderContract):
        name = "itemknn"
        params = {"k": 20}

The main fixture is a *checkerboard*: users and items form two groups, each user interacts with
every item of their own group except one held-out item and with nothing of the other group. A
model that learns anything from co-occurrence must rank the held-out item first once seen items
are filtered (the idea of implicit's ``RecommenderBaseTestMixin``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import ConfigError, NotFittedError, RecsmithError
from recsmith.models import Recommender, create_model
from recsmith.training import fit_model
from recsmith.training.config import split_train_overrides

N_USERS, N_ITEMS, GROUP_ITEMS = 40, 20, 10

#: Scores of one user may differ in the last bits of float32 between two computations of a different
#: shape (``batch_size``), thread count or BLAS build: the GEMM kernel and its blocking are chosen by
#: matrix shape and CPU (e.g. ``OPENBLAS_CORETYPE``), and another summation order rounds differently.
#: Seen: 6e-8 (ALS) and 2.4e-7 (BPR) absolute. The tolerance is a few float32 epsilons (1.2e-7)
#: relative, plus an absolute floor for scores near zero.
SCORE_RTOL, SCORE_ATOL = 1e-5, 1e-6


def assert_same_ranking(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    """Two ``(items, scores)`` answers agree: scores within the float tolerance above, ids exactly,
    except where two items' scores are tied up to that tolerance (exact ties are broken by the lower
    id, so only a tie that rounding itself creates or breaks may swap two ids)."""
    (items_a, scores_a), (items_b, scores_b) = a, b
    assert items_a.shape == items_b.shape and scores_a.shape == scores_b.shape
    np.testing.assert_allclose(scores_b, scores_a, rtol=SCORE_RTOL, atol=SCORE_ATOL)
    finite = np.where(np.isfinite(scores_a), scores_a, 0.0).astype(np.float64)
    tol = SCORE_ATOL + SCORE_RTOL * np.abs(finite)
    gap = np.abs(np.diff(finite, axis=1)) <= tol[:, 1:]  # position j tied with j + 1
    near_tie = np.zeros(items_a.shape, dtype=bool)
    near_tie[:, 1:] |= gap
    near_tie[:, :-1] |= gap
    swapped = (items_a != items_b) & ~near_tie
    assert not swapped.any(), f"ids differ at positions {np.argwhere(swapped)[:5].tolist()} without a near tie"


@dataclass(frozen=True)
class Checkerboard:
    train: Interactions
    held_out: np.ndarray  # (n_users,) the one own-group item each user did not see

    @property
    def group_of_item(self) -> np.ndarray:
        return np.arange(self.train.n_items) // GROUP_ITEMS


def checkerboard(n_users: int = N_USERS, n_items: int = N_ITEMS) -> Checkerboard:
    """User ``u`` belongs to group ``u % 2`` and sees its group's items except ``held_out[u]``."""
    users, items, held = [], [], []
    for u in range(n_users):
        group = np.arange(GROUP_ITEMS) + (u % 2) * GROUP_ITEMS
        h = group[(u // 2) % GROUP_ITEMS]
        held.append(h)
        seen = group[group != h]
        users += [u] * len(seen)
        items += list(seen)
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.arange(len(users)), "weight": np.ones(len(users))}
    )
    return Checkerboard(Interactions(frame, n_users, n_items), np.asarray(held))


class RecommenderContract:
    """Checks of the public model contract; set ``name`` / ``params`` (and the flags) per model."""

    name: ClassVar[str]
    #: the model's parameters as a run config's ``models.<name>`` entry holds them: a torch model's
    #: ``train`` overrides (of its training defaults) among them
    params: ClassVar[dict[str, Any]] = {}
    #: False for models without personalisation (popular, random): they get their own ranking tests
    ranks_held_out_first: ClassVar[bool] = True
    supports_similar_items: ClassVar[bool] = True

    @classmethod
    def side_data(cls) -> SideData | None:
        """Item / user tables for models that read them (``uses_side_data``); None by default."""
        return None

    def make(self, **overrides: Any) -> Recommender:
        hyper = split_train_overrides({**self.params, **overrides})[0]
        return create_model(self.name, hyper).with_side_data(self.side_data())

    @classmethod
    def fit(cls, model: Recommender, data: Interactions) -> Recommender:
        """Fit as any caller does: torch models through the Trainer, with the ``train`` overrides."""
        return fit_model(model, data, train_config=split_train_overrides(cls.params)[1] or None)

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Checkerboard:
        return checkerboard()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, data: Checkerboard) -> Recommender:
        hyper = split_train_overrides(cls.params)[0]
        return cls.fit(create_model(cls.name, hyper).with_side_data(cls.side_data()), data.train)

    # ------------------------------------------------------------------ ranking
    def test_held_out_item_ranks_first(self, model: Recommender, data: Checkerboard) -> None:
        if not self.ranks_held_out_first:
            pytest.skip(f"{self.name} is not personalised; see its own ranking tests")
        items, scores = model.recommend(np.arange(data.train.n_users), k=3)
        np.testing.assert_array_equal(items[:, 0], data.held_out)
        assert np.all(scores[:, 0] > scores[:, 1])

    def test_output_shapes_and_order(self, model: Recommender, data: Checkerboard) -> None:
        items, scores = model.recommend([0, 3, 5], k=4)
        assert items.shape == scores.shape == (3, 4)
        assert items.dtype == np.int64 and scores.dtype == np.float32
        assert np.all(np.diff(scores, axis=1) <= 0)
        empty_items, empty_scores = model.recommend(np.array([], dtype=np.int64), k=4)
        assert empty_items.shape == empty_scores.shape == (0, 4)

    def test_batch_size_does_not_change_results(self, model: Recommender, data: Checkerboard) -> None:
        users = np.arange(data.train.n_users)
        assert_same_ranking(model.recommend(users, k=5), model.recommend(users, k=5, batch_size=7))

    # ------------------------------------------------------------------ filtering
    def test_filter_seen_never_returns_training_items(self, model: Recommender, data: Checkerboard) -> None:
        seen = data.train.binary
        items, _ = model.recommend(np.arange(data.train.n_users), k=N_ITEMS)
        for u, row in enumerate(items):
            assert not set(row[row >= 0]) & set(seen[u].indices), f"user {u} got a training item"

    def test_without_filter_seen_training_items_can_appear(self, model: Recommender, data: Checkerboard) -> None:
        seen = data.train.binary
        items, _ = model.recommend(np.arange(data.train.n_users), k=5, filter_seen=False)
        assert any(set(row) & set(seen[u].indices) for u, row in enumerate(items))

    def test_exclude_removes_items(self, model: Recommender, data: Checkerboard) -> None:
        users = np.arange(data.train.n_users)
        first, _ = model.recommend(users, k=1)
        exclude = sp.csr_matrix(
            (np.ones(len(users)), (users, first[:, 0])), shape=(data.train.n_users, data.train.n_items)
        )
        again, _ = model.recommend(users, k=N_ITEMS, exclude=exclude)
        assert not np.any(again == first)

    def test_k_beyond_eligible_items_pads(self, model: Recommender, data: Checkerboard) -> None:
        k = N_ITEMS + 5
        n_seen = np.diff(data.train.binary.indptr)
        items, scores = model.recommend(np.arange(data.train.n_users), k=k)
        assert items.shape == (data.train.n_users, k)
        np.testing.assert_array_equal((items >= 0).sum(axis=1), N_ITEMS - n_seen)
        assert np.all(np.isneginf(scores[items < 0]))
        assert np.all(np.isfinite(scores[items >= 0]))
        unfiltered, _ = model.recommend([0], k=k, filter_seen=False)
        assert sorted(unfiltered[0, :N_ITEMS]) == list(range(N_ITEMS))
        assert np.all(unfiltered[0, N_ITEMS:] == -1)

    # ------------------------------------------------------------------ bad input
    def test_out_of_range_users_raise(self, model: Recommender, data: Checkerboard) -> None:
        for users in ([-1], [data.train.n_users], [0, data.train.n_users + 10]):
            with pytest.raises(RecsmithError, match="user ids must lie in"):
                model.recommend(users, k=3)

    def test_bad_k_raises(self, model: Recommender) -> None:
        with pytest.raises(RecsmithError, match="k must be"):
            model.recommend([0], k=0)

    def test_unfitted_model_raises(self) -> None:
        with pytest.raises(NotFittedError):
            self.make().recommend([0], k=3)

    def test_unknown_config_key_names_it_and_lists_valid_keys(self) -> None:
        with pytest.raises(ConfigError) as err:
            self.make(no_such_option=1)
        message = str(err.value)
        assert f"unknown key '{self.name}.no_such_option'" in message
        listed = message.split("valid keys: ", 1)[1].splitlines()[0].split(", ")
        assert sorted(listed) == sorted(type(self.make()).Config.model_fields)

    def test_wrong_type_names_the_key(self) -> None:
        for field in type(self.make()).Config.model_fields:
            with pytest.raises(ConfigError, match=rf"{self.name}\.{field}: "):
                self.make(**{field: {"not": "a valid value"}})

    # ------------------------------------------------------------------ determinism
    def test_same_seed_same_output(self, model: Recommender, data: Checkerboard) -> None:
        again = self.fit(self.make(), data.train)
        users = np.arange(data.train.n_users)
        assert_same_ranking(model.recommend(users, k=5), again.recommend(users, k=5))

    # ------------------------------------------------------------------ persistence
    def test_save_load_roundtrip(self, model: Recommender, data: Checkerboard, tmp_path) -> None:
        path = model.save(tmp_path / "model")
        loaded = Recommender.load(path)
        assert type(loaded) is type(model) and loaded.config == model.config
        users = np.arange(data.train.n_users)
        for args in ({"k": 5}, {"k": 5, "filter_seen": False}):
            assert_same_ranking(model.recommend(users, **args), loaded.recommend(users, **args))
        np.testing.assert_array_equal(model.recommend_cold(5)[0], loaded.recommend_cold(5)[0])
        if self.supports_similar_items:
            assert_same_ranking(model.similar_items([0, 11], k=4), loaded.similar_items([0, 11], k=4))

    def test_saved_files_hold_no_pickle(self, model: Recommender, tmp_path) -> None:
        path = model.save(tmp_path / "model")
        meta = json.loads((path / "config.json").read_text())
        assert meta["model"] == self.name
        assert meta["config"] == model.config.model_dump(mode="json")
        with np.load(path / "state.npz", allow_pickle=False) as npz:
            for key in npz.files:
                assert npz[key].dtype != object, key

    def test_load_through_model_class_and_mismatch(self, model: Recommender, tmp_path) -> None:
        path = model.save(tmp_path / "model")
        assert type(type(model).load(path)) is type(model)
        other = "random" if self.name != "random" else "popular"
        with pytest.raises(RecsmithError, match="holds a"):
            type(create_model(other)).load(path)

    # ------------------------------------------------------------------ cold start, similar items
    def test_recommend_cold_returns_popular_items(self, model: Recommender, data: Checkerboard) -> None:
        items, scores = model.recommend_cold(k=5)
        counts = np.asarray(data.train.binary.sum(axis=0)).ravel()
        expected = np.lexsort((np.arange(N_ITEMS), -counts))[:5]  # ties: lower id first
        np.testing.assert_array_equal(items, expected)
        np.testing.assert_array_equal(scores, counts[expected])

    def test_similar_items(self, model: Recommender, data: Checkerboard) -> None:
        query = np.array([0, 3, 12, 19])
        if not self.supports_similar_items:
            with pytest.raises(RecsmithError, match="no notion of item similarity"):
                model.similar_items(query, k=3)
            return
        items, scores = model.similar_items(query, k=3)
        assert items.shape == scores.shape == (len(query), 3)
        assert not np.any(items == query[:, None]), "an item is not similar to itself"
        groups = data.group_of_item
        np.testing.assert_array_equal(groups[items[:, 0]], groups[query])
        everything, _ = model.similar_items(query, k=N_ITEMS + 3)
        assert not np.any(everything == query[:, None])
        with pytest.raises(RecsmithError, match="item ids must lie in"):
            model.similar_items([N_ITEMS], k=3)
