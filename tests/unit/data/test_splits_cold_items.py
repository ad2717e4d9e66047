"""``split.cold_items``: a seeded share of items held out of train and validation, kept in test only
as users' own test items; no held-out item leaks into what the models see."""

import numpy as np
import polars as pl
import pytest

from recsmith.config import SplitConfig
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.splits import split
from recsmith.errors import ConfigError

U, I, T = Columns.User, Columns.Item, Columns.Timestamp


@pytest.fixture(scope="module")
def data():
    """400 users with 3..25 interactions over 150 items, sorted like a prepared dataset."""
    rng = np.random.default_rng(1)
    counts = rng.integers(3, 26, size=400)
    users = np.repeat(np.arange(400), counts)
    ts = rng.integers(0, 10_000, size=users.size)
    frame = pl.DataFrame({U: users, I: rng.integers(0, 150, users.size), T: ts, Columns.Weight: np.ones(users.size)})
    frame = frame.with_row_index("order").sort([U, T, "order"]).drop("order")
    return Interactions(frame, 400, 160)  # items 150..159 never occur


def _items(part: Interactions | None) -> set[int]:
    return set() if part is None else set(part.frame[I].to_list())


@pytest.mark.parametrize(
    "params", [{"method": "loo"}, {"method": "last_n", "n": 2}, {"method": "temporal", "test_time": 8000}]
)
def test_no_held_out_item_in_train_or_valid(data, params) -> None:
    s = split(data, SplitConfig(cold_items=0.1, seed=3, **params))
    held = set(s.cold_items.tolist())
    assert len(held) == 15  # round(0.1 * 150 items with interactions); never-seen items are not drawn
    assert max(held) < 150
    assert not held & _items(s.train), "a held-out item leaked into train"
    assert not held & _items(s.valid), "a held-out item leaked into validation"
    assert held & _items(s.test), "held-out items must still be tested"
    assert s.summary()["cold_items"]["items"] == 15


def test_test_part_is_unchanged_and_the_rest_only_loses_held_out_rows(data) -> None:
    plain = split(data, SplitConfig(method="loo"))
    cold = split(data, SplitConfig(method="loo", cold_items=0.2, seed=0))
    assert cold.test.frame.equals(plain.test.frame), "every user keeps their own test item"
    held = cold.cold_items.tolist()
    for name in ("train", "valid"):
        expected = getattr(plain, name).frame.filter(~pl.col(I).is_in(held))
        assert getattr(cold, name).frame.equals(expected)
    n_test_cold = plain.test.frame.filter(pl.col(I).is_in(held)).height
    assert cold.summary()["cold_items"]["test_interactions"] == n_test_cold > 0


def test_seeded_and_default_off(data) -> None:
    a = split(data, SplitConfig(cold_items=0.1, seed=7)).cold_items
    b = split(data, SplitConfig(cold_items=0.1, seed=7)).cold_items
    c = split(data, SplitConfig(cold_items=0.1, seed=8)).cold_items
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    off = split(data, SplitConfig())
    assert off.cold_items is None and "cold_items" not in off.summary()


def test_random_split_refuses_and_bad_share_is_a_config_error(data) -> None:
    with pytest.raises(ConfigError, match="cold_items works with the loo, last_n and temporal"):
        split(data, SplitConfig(method="random", cold_items=0.1))
    from recsmith.config import validate_config

    with pytest.raises(ConfigError, match="split.cold_items"):
        validate_config({"split": {"cold_items": 1.5}})
