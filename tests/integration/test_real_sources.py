"""The readers on the real files in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from recsmith.data.sources import get_source

pytestmark = pytest.mark.realdata


def test_movielens_100k(shared_data: Path) -> None:
    raw = get_source("movielens-100k")(shared_data / "ml-100k")
    i = raw.interactions
    assert i.height == 100_000
    assert (i["user_id"].n_unique(), i["item_id"].n_unique()) == (943, 1682)
    assert raw.explicit and raw.bad_rows == {}
    assert sorted(i["weight"].unique().to_list()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert raw.items is not None and raw.items.height == 1682
    names = dict(raw.items.select("item_id", "name").iter_rows())
    assert names["1"] == "Toy Story (1995)"
    assert names["1322"] == "Metisse (Café au Lait) (1993)"  # latin-1
    assert raw.items.filter(pl.col("item_id") == "1")["genres"].to_list() == [["Animation", "Children's", "Comedy"]]
    assert raw.users is not None and raw.users.height == 943


def test_amazon_beauty_sequences(shared_data: Path) -> None:
    path = shared_data / "amazon-beauty" / "Beauty.txt"
    raw = get_source("sequences")(path)
    i = raw.interactions
    assert i.height == 198_502
    assert (i["user_id"].n_unique(), i["item_id"].n_unique()) == (22_363, 12_101)
    first = path.read_text().splitlines()[0].split()
    assert i.filter(pl.col("user_id") == first[0])["item_id"].to_list() == first[1:]
    items = raw.items
    assert items is not None and items.height == 12_101
    item4 = items.filter(pl.col("item_id") == "4").row(0, named=True)
    assert item4["asin"] == "7806397051"
    assert item4["attributes"] == ["COKA", "Makeup", "Face"]
    assert items["attributes"].list.len().min() > 0
    assert not items["attributes"].explode().str.contains("&amp;").any()


def test_hm_sample(shared_data: Path) -> None:
    raw = get_source("hm")(shared_data / "hm-sample")
    assert raw.interactions.height == 10_000
    items = raw.items
    assert items is not None and items.height == 4903
    ids = items["item_id"]
    assert (ids.str.len_chars() == 10).all() and ids.str.starts_with("0").all()
    assert items.filter(pl.col("item_id") == "0108775015")["name"].to_list() == ["Strap top"]
    assert raw.interactions["item_id"].is_in(ids.implode()).all()
    assert raw.users is not None and raw.users.height == 10_000
    assert raw.interactions["timestamp"].unique().to_list() == [1537401600]  # 2018-09-20, all one day
