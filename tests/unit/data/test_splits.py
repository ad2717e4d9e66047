"""Each split partitions the data, follows its rule, and leaks nothing from the future."""

import numpy as np
import polars as pl
import pytest

from recsmith.config import SplitConfig
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.splits import parse_time, split
from recsmith.errors import ConfigError, RecsmithError

U, I, T = Columns.User, Columns.Item, Columns.Timestamp


@pytest.fixture(scope="module")
def data():
    """300 users with 1..30 interactions each, timestamps with many ties, sorted like a prepared dataset."""
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 31, size=300)
    users = np.repeat(np.arange(300), counts)
    ts = rng.integers(0, 1000, size=users.size)
    frame = pl.DataFrame({U: users, I: rng.integers(0, 200, users.size), T: ts, Columns.Weight: np.ones(users.size)})
    frame = frame.with_row_index("order").sort([U, T, "order"]).drop("order")
    return Interactions(frame, 300, 200)


def keyed(inter: Interactions | None) -> pl.DataFrame:
    if inter is None:
        return pl.DataFrame(schema={U: pl.Int32, I: pl.Int32, T: pl.Int64})
    return inter.frame.select(U, I, T)


def assert_partition(data, s, drop_allowed=False):
    parts = [keyed(s.train), keyed(s.valid), keyed(s.test)]
    together = pl.concat(parts)
    assert together.height <= data.frame.height
    if not drop_allowed:
        assert together.height == data.frame.height
        assert together.sort([U, I, T]).equals(keyed(data).sort([U, I, T]))


def per_user_bounds(frame, col="timestamp"):
    return frame.group_by(U).agg(pl.col(T).min().alias("tmin"), pl.col(T).max().alias("tmax"))


def assert_no_future_in_train(train, later):
    """Every later-part interaction of a user is at or after all of that user's train interactions."""
    b = per_user_bounds(train.frame).join(per_user_bounds(later.frame), on=U, suffix="_later")
    assert (b["tmin_later"] >= b["tmax"]).all()


@pytest.mark.parametrize("with_valid", [True, False])
def test_loo(data, with_valid):
    s = split(data, SplitConfig(method="loo", valid=with_valid))
    assert_partition(data, s)
    assert s.test.frame.group_by(U).len()["len"].max() == 1
    # the test row is the user's last row in dataset order (ties broken by source order)
    last = data.frame.group_by(U, maintain_order=True).last().select(U, I, T)
    assert keyed(s.test).sort(U).equals(last.filter(pl.col(U).is_in(s.test.frame[U].implode())).sort(U))
    assert_no_future_in_train(s.train, s.test)
    if with_valid:
        assert_no_future_in_train(s.train, s.valid)
        assert_no_future_in_train(s.valid, s.test)
        assert set(s.valid.frame[U]) == set(s.test.frame[U])
    counts = data.frame.group_by(U).len()
    short = set(counts.filter(pl.col("len") < 3)[U])
    assert short.isdisjoint(set(s.test.frame[U]))  # users under min_interactions are train-only


def test_last_n(data):
    s = split(data, SplitConfig(method="last_n", n=3))
    assert_partition(data, s)
    assert s.test.frame.group_by(U).len()["len"].unique().to_list() == [3]
    assert_no_future_in_train(s.train, s.test)
    assert_no_future_in_train(s.valid, s.test)
    assert_no_future_in_train(s.train, s.valid)
    # every evaluated user keeps at least one training interaction
    assert set(s.test.frame[U]) <= set(s.train.frame[U])


@pytest.mark.parametrize("with_valid", [True, False])
def test_temporal(data, with_valid):
    s = split(data, SplitConfig(method="temporal", test_time=800, valid=with_valid, valid_seconds=100))
    assert_partition(data, s, drop_allowed=True)
    assert s.train.frame[T].max() < (700 if with_valid else 800)
    assert s.test.frame[T].min() >= 800
    if with_valid:
        assert s.valid.frame[T].min() >= 700 and s.valid.frame[T].max() < 800
    # cold users dropped from evaluation parts, nothing dropped from train
    assert set(s.test.frame[U]) <= set(s.train.frame[U])
    assert s.train.frame.height == data.frame.filter(pl.col(T) < (700 if with_valid else 800)).height


def test_temporal_keeps_cold_users_when_asked(data):
    s = split(data, SplitConfig(method="temporal", test_time=800, valid=False, drop_cold_users=False))
    assert_partition(data, s)


def test_temporal_needs_time():
    with pytest.raises(ConfigError, match="test_time"):
        split(
            Interactions(pl.DataFrame({U: [0], I: [0], T: [0], Columns.Weight: [1.0]}), 1, 1),
            SplitConfig(method="temporal"),
        )


def test_random_is_seeded_and_disjoint(data):
    cfg = SplitConfig(method="random", test_ratio=0.2, valid_ratio=0.1, seed=3, drop_cold_users=False)
    a, b = split(data, cfg), split(data, cfg)
    assert a.test.frame.equals(b.test.frame)
    assert_partition(data, a)
    share = len(a.test) / len(data)
    assert 0.15 < share < 0.25
    c = split(data, cfg.model_copy(update={"seed": 4}))
    assert not c.test.frame.equals(a.test.frame)


def test_split_with_no_test_rows_is_an_error():
    f = pl.DataFrame({U: [0, 0], I: [0, 1], T: [1, 2], Columns.Weight: [1.0, 1.0]})
    with pytest.raises(RecsmithError, match="no test interactions"):
        split(Interactions(f, 1, 2), SplitConfig(method="loo"))


def test_train_full_concatenates(data):
    s = split(data, SplitConfig(method="loo"))
    assert len(s.train_full()) == len(s.train) + len(s.valid)


def test_parse_time():
    assert parse_time("1970-01-02") == 86400
    assert parse_time(5) == 5
    assert parse_time("86400") == 86400
    with pytest.raises(ConfigError):
        parse_time("next tuesday")


def test_an_empty_temporal_test_says_why_and_what_to_use() -> None:
    day = 1_537_401_600  # 2018-09-20, the H&M sample's only day
    frame = pl.DataFrame({U: [0, 0, 1], I: [0, 1, 1], T: [day] * 3, Columns.Weight: [1.0] * 3})
    one_day = Interactions(frame, 2, 2)
    with pytest.raises(
        RecsmithError, match=r"2018-09-20 00:00:00 \.\. 2018-09-20 00:00:00, a single instant.*--split random"
    ):
        split(one_day, SplitConfig(method="temporal", test_time="2020-09-16"))
    later = Interactions(frame.with_columns(pl.Series(T, [day, day + 86_400, day + 2 * 86_400])), 2, 2)
    with pytest.raises(RecsmithError, match=r"split\.test_time 2020-09-16 .* is after all of them: .*2018-09-22"):
        split(later, SplitConfig(method="temporal", test_time="2020-09-16"))
