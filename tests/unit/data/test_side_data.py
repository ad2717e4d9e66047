"""SideData: item / user tables aligned with internal ids, and item texts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import ConfigError


def _dataset() -> Dataset:
    frame = pl.DataFrame({"user": [0, 1], "item": [0, 2], "timestamp": [0, 1], "weight": [1.0, 1.0]})
    items = pl.DataFrame({"item": [2, 0], "name": ["Red lipstick", None], "tags": [["a", "b"], []]})
    return Dataset(Interactions(frame, 2, 4), IdMap(["u0", "u1"]), IdMap(["i0", "i1", "i2", "i3"]), items=items)


def test_tables_are_aligned_with_internal_ids(tmp_path):
    side = SideData.from_dataset(_dataset(), tmp_path)
    assert side.items["item"].to_list() == [0, 1, 2, 3]  # reordered, missing ids filled with nulls
    assert side.items["name"].to_list() == [None, None, "Red lipstick", None]
    assert side.users is None and side.n_items == 4
    assert side.item_ids.tolist() == ["i0", "i1", "i2", "i3"]
    assert side.cache_dir == tmp_path / "cache"


def test_item_texts_join_columns_and_lists():
    side = SideData.from_dataset(_dataset())
    assert side.item_texts(["name", "tags"]) == ["", "", "Red lipstick | a, b", ""]
    assert side.cache_dir is None


def test_missing_column_or_table_is_a_clear_error():
    side = SideData.from_dataset(_dataset())
    with pytest.raises(ConfigError, match="'colour' is not in the item table; columns: item, name, tags"):
        side.item_texts(["colour"])
    with pytest.raises(ConfigError, match="no item table"):
        SideData().item_column("name")


def test_models_get_side_data_before_fit():
    from recsmith.models import create_model

    side = SideData(items=pl.DataFrame({"item": np.arange(3, dtype=np.int32)}))
    model = create_model("popular").with_side_data(side)
    assert model.side is side
