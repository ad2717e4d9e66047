"""A new dataset version from new interactions: stable ids, the old version untouched, unknown-id policies."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.append import append_interactions
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.errors import DataError


def base(dedupe: str = "none") -> Dataset:
    frame = pl.DataFrame({"user": [0, 0, 1, 2], "item": [0, 1, 1, 2], "timestamp": [1, 2, 3, 4], "weight": 1.0})
    return Dataset(
        Interactions(frame, 3, 3),
        IdMap(["a", "b", "c"], kind="user"),
        IdMap(["x", "y", "z"], kind="item"),
        items=pl.DataFrame({"item": pl.Series([0, 1, 2], dtype=pl.Int32), "name": ["X", "Y", "Z"]}),
        manifest={"name": "t", "preparation": {"dedupe": dedupe}},
    )


def rows(*events: tuple[str, str, int]) -> pl.DataFrame:
    users, items, times = zip(*events)
    return pl.DataFrame({"user_id": users, "item_id": items, "timestamp": times, "weight": [1.0] * len(events)})


def test_known_ids_keep_their_index_and_new_ones_follow(tmp_path):
    old = base()
    old.save(tmp_path / "v1")
    grown, report = append_interactions(old, rows(("b", "x", 10), ("new-user", "y", 11), ("a", "new-item", 12)))
    assert grown.user_map.external_ids.to_list() == ["a", "b", "c", "new-user"]
    assert grown.item_map.external_ids.to_list() == ["x", "y", "z", "new-item"]
    assert report.appended == 3 and report.new_users == ["new-user"] and report.new_items == ["new-item"]
    frame = grown.interactions.frame
    assert frame.filter(pl.col("user") == 1)["item"].to_list() == [1, 0]  # b's old row, then the new one
    assert frame.filter(pl.col("user") == 0)["item"].to_list() == [0, 1, 3]
    # the new item has an item-table row with no attributes; the old version is unchanged in memory and on disk
    assert grown.items["name"].to_list() == ["X", "Y", "Z", None]
    assert len(old.interactions) == 4 and len(Dataset.load(tmp_path / "v1").interactions) == 4
    grown.save(tmp_path / "v2")
    assert Dataset.load(tmp_path / "v2").n_items == 4


def test_the_dedupe_policy_of_the_old_version_applies():
    grown, report = append_interactions(base("last"), rows(("a", "x", 20)))
    frame = grown.interactions.frame.filter(pl.col("user") == 0).sort("item")
    assert frame["timestamp"].to_list() == [20, 2] and report.removed_by_dedupe == 1 and report.appended == 0


@pytest.mark.parametrize("kind", ["users", "items"])
def test_unknown_ids_can_be_skipped_and_counted_or_refused(kind):
    new = rows(("zz", "x", 10), ("a", "ww", 11))
    skipped, report = append_interactions(base(), new, **{f"unknown_{kind}": "skip"})
    assert getattr(report, f"skipped_unknown_{kind}") == 1
    with pytest.raises(DataError, match=f"1 unknown {kind[:-1]} ids"):
        append_interactions(base(), new, **{f"unknown_{kind}": "error"})
    assert np.all(skipped.interactions.frame["user"].to_numpy() < skipped.n_users)
