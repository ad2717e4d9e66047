"""Point-in-time aggregates: hand-checked values, and no leakage (changing, adding or removing rows
at or after the cutoff T changes no feature computed for T)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.errors import ConfigError
from recsmith.features.aggregates import (
    DAY,
    FEATURES,
    AggregateParams,
    HistoryTables,
    check_features,
    item_group_codes,
)

T = 20 * DAY
ITEMS = pl.DataFrame(
    {"item": [0, 1, 2, 3, 4], "kind": ["a", "a", "b", "b", None], "tags": [["x"], ["x", "y"], ["y"], [], ["z"]]}
)
GROUPS = {"kind": item_group_codes(ITEMS, "kind"), "tags": item_group_codes(ITEMS, "tags")}
PARAMS = AggregateParams(groups=["kind", "tags"], recent_days=7, half_life_days=7, last_n=2)


def history(seed: int = 0, n: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "user": rng.integers(0, 6, n).astype(np.int32),
            "item": rng.integers(0, 5, n).astype(np.int32),
            "timestamp": rng.integers(0, 40 * DAY, n),
            "weight": np.ones(n, dtype=np.float32),
            "price": rng.random(n).astype(np.float32),
        }
    ).sort("user", "timestamp")


def candidates() -> pl.DataFrame:
    users, items = np.meshgrid(np.arange(7), np.arange(5), indexing="ij")  # user 6 has no history
    return pl.DataFrame({"user": users.ravel().astype(np.int32), "item": items.ravel().astype(np.int32)})


def features(frame: pl.DataFrame) -> pl.DataFrame:
    tables = HistoryTables.compute(frame.lazy(), list(FEATURES), PARAMS, cutoff=T, item_groups=GROUPS)
    return tables.join(candidates())


def test_features_for_t_ignore_everything_at_or_after_t() -> None:
    base = history()
    before = features(base)
    after = base.filter(pl.col("timestamp") >= T)
    rng = np.random.default_rng(1)
    changed = pl.concat(
        [
            base.filter(pl.col("timestamp") < T),
            # the rows after T: other users, items and prices, twice as many, and some exactly at T
            after.with_columns(
                pl.Series("item", rng.integers(0, 5, after.height).astype(np.int32)),
                pl.Series("price", rng.random(after.height).astype(np.float32) * 100),
            ),
            history(seed=7).filter(pl.col("timestamp") >= T).with_columns(pl.lit(T, pl.Int64).alias("timestamp")),
        ]
    ).sort("user", "timestamp")
    assert not changed.equals(base)
    again = features(changed)
    assert again.columns == before.columns and len(before.columns) > 30
    # same computation shape on the same rows: equal up to float summation order
    for column in before.columns:
        np.testing.assert_allclose(again[column].to_numpy(), before[column].to_numpy(), rtol=1e-6, err_msg=column)
    # and the features do depend on the rows before T
    assert not features(base.filter(pl.col("timestamp") < T - 5 * DAY)).equals(before)


def test_values_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "user": [0, 0, 0, 1],
            "item": [0, 1, 0, 2],
            "timestamp": [0, 10 * DAY, 18 * DAY, 19 * DAY],
            "weight": [1.0] * 4,
            "price": [1.0, 3.0, 2.0, 4.0],
        }
    )
    tables = HistoryTables.compute(frame.lazy(), list(FEATURES), PARAMS, cutoff=T, item_groups=GROUPS)
    row = tables.join(pl.DataFrame({"user": [0], "item": [0]})).row(0, named=True)
    assert row["user_count"] == 3 and row["user_items"] == 2
    assert row["user_repeat_share"] == pytest.approx(1 / 3)
    assert row["user_days_since_last"] == pytest.approx(2.0) and row["user_days_since_first"] == pytest.approx(20.0)
    assert row["user_recent_count"] == 1  # only day 18 is within 7 days of day 20
    assert row["user_price_mean"] == pytest.approx(2.0) and row["user_price_max"] == 3.0
    assert row["item_count"] == 2 and row["item_users"] == 1 and row["item_repeat_share"] == 1.0
    assert row["item_trend"] == pytest.approx((1 + 1) / (0 + 1))
    assert row["item_decayed_count"] == pytest.approx(2 ** (-20 / 7) + 2 ** (-2 / 7), rel=1e-5)
    assert row["ui_count"] == 2 and row["ui_events_since_last"] == 0 and row["ui_days_since_last"] == pytest.approx(2.0)
    assert row["ui_price_ratio"] == pytest.approx(1.5 / 2.0)
    # item 0 is kind "a" like items 0, 1: all 3 of user 0's interactions; tags "x": all 3 too
    assert row["group_share:kind"] == 1.0 and row["group_share:tags"] == 1.0
    assert row["group_count:kind"] == 3.0
    other = tables.join(pl.DataFrame({"user": [0], "item": [2]})).row(0, named=True)  # kind "b", tag "y"
    assert other["group_share:kind"] == 0.0 and other["group_share:tags"] == pytest.approx(1 / 3)
    assert other["group_last_share:tags"] == pytest.approx(1 / 2)  # the last 2: items 1 (x, y) and 0 (x)
    assert other["ui_count"] == 0 and other["ui_days_since_last"] is None


def test_users_and_items_without_history() -> None:
    out = features(history())
    unknown = out.filter(pl.col("user") == 6).row(0, named=True)
    assert unknown["user_count"] == 0 and unknown["ui_count"] == 0 and unknown["user_days_since_last"] is None


def test_roundtrip_through_arrays() -> None:
    tables = HistoryTables.compute(history().lazy(), list(FEATURES), PARAMS, cutoff=T, item_groups=GROUPS)
    loaded = HistoryTables.from_arrays(tables.to_arrays("t"), "t")
    assert loaded.join(candidates()).equals(tables.join(candidates()))


def test_price_features_need_a_price_column() -> None:
    with pytest.raises(
        ConfigError, match=r"two_stage.features: feature 'user_price_mean' needs a 'price' column.*item_count"
    ):
        check_features(
            ["item_count", "user_price_mean"], columns={"user", "item", "timestamp"}, key="two_stage.features"
        )
    with pytest.raises(ConfigError, match="unknown feature 'nope'; valid features: user_count"):
        check_features(["nope"], columns=set(), key="x")
