"""The acceptance forms of `recsmith data prepare` on the real files in ../shared/data."""

import json

import polars as pl
import pytest

from recsmith.cli.main import main
from recsmith.data.dataset import Dataset

pytestmark = pytest.mark.realdata


def test_prepare_movielens_100k(shared_data, tmp_path):
    out = tmp_path / "ml100k"
    assert main(["data", "prepare", "movielens-100k", "--path", str(shared_data / "ml-100k"), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (100_000, 943, 1682)
    item = ds.item_map.to_internal(["1"])[0]
    assert ds.item_names([item]) == ["Toy Story (1995)"]
    assert ds.users is not None and len(ds.users) == 943
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["explicit"] is True


def test_prepare_beauty_sequences_picks_up_attributes(shared_data, tmp_path):
    out = tmp_path / "beauty"
    path = shared_data / "amazon-beauty" / "Beauty.txt"
    assert main(["data", "prepare", "sequences", "--path", str(path), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (198_502, 22_363, 12_101)
    assert ds.items is not None and "attributes" in ds.items.columns
    assert ds.items["name"].null_count() < ds.n_items  # names from datamaps / attributes
    # the sequence order survives preparation: user "1"'s items are in file order
    first_line = path.read_text().splitlines()[0].split()
    u = ds.user_map.to_internal([first_line[0]])[0]
    f = ds.interactions.frame.filter(pl.col("user") == int(u))
    assert ds.item_map.to_external(f["item"].to_numpy()) == first_line[1:]


def test_prepare_hm_sample(shared_data, tmp_path):
    out = tmp_path / "hm"
    assert main(["data", "prepare", "hm", "--path", str(shared_data / "hm-sample"), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert len(ds.interactions) == 10_000
    ids = ds.item_map.external_ids
    assert ids.str.len_chars().unique().to_list() == [10] and ids.str.starts_with("0").all()
    assert ds.items is not None and ds.items["name"].null_count() == 0
