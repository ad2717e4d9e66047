"""``recsmith data prepare hm --raw`` on the real H&M sample in ../shared/data/hm-sample."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsmith.cli.main import main
from recsmith.config import DataConfig
from recsmith.data.dataset import Dataset
from recsmith.data.prepare import prepare
from recsmith.data.sources.hm import read_hm
from recsmith.features import FeatureStore

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def prepared(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("hm-sample") / "hm"
    assert main(["data", "prepare", "hm", "--raw", str(shared_data / "hm-sample"), "--out", str(out)]) == 0
    return out


def test_dataset_matches_the_in_memory_reader(shared_data, prepared) -> None:
    ds = Dataset.load(prepared)
    eager = prepare(read_hm(shared_data / "hm-sample"), DataConfig(source="hm"))
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (10_000, 2954, 4903)
    assert_frame_equal(ds.interactions.frame, eager.interactions.frame)
    assert ds.user_map == eager.user_map and ds.item_map == eager.item_map
    ids = ds.item_map.external_ids
    assert ids.str.len_chars().unique().to_list() == [10] and ids.str.starts_with("0").all()


def test_customers_normalised(prepared) -> None:
    users = Dataset.load(prepared).users
    assert users is not None and users.height == 104  # the sample lists few of the 2,954 buyers
    assert users["FN"].dtype == pl.Int8 and users["FN"].null_count() == 0
    assert set(users["fashion_news_frequency"].unique().to_list()) <= {"NONE", "Regularly", "Monthly"}


def test_features_on_the_sample(prepared) -> None:
    store = FeatureStore(prepared)
    # all 10,000 purchases are on one day: the split leaves no training rows, said in the manifest
    assert store.manifest["split"]["interactions"] == {"train": 0, "valid": 0, "test": 10_000}
    assert store.manifest["split"]["fit_on"].startswith("all")
    items = store.table("items")
    assert items.height == 4903 and items["description"].null_count() < 4903
    assert items.filter(pl.col("item") == 0)["image"].str.starts_with("images/0").all()
    inter = store.interactions().collect()
    assert inter.height == 10_000 and inter["price"].null_count() == 0
    assert set(inter["sales_channel"].to_list()) <= {1, 2, 3}
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["bad_rows"] == {} and len(manifest["source"]["sha256"]) == 64


def test_the_one_day_sample_benchmarks_with_hm_sample_not_hm(prepared, tmp_path, capsys) -> None:
    """hm.yaml's temporal split says why it cannot split one day and what to use; the packaged
    hm_sample config runs; raw article ids (no leading zero, as in articles.csv) are found."""
    assert main(["benchmark", "--data", str(prepared), "--config", "hm", "--out", str(tmp_path / "a")]) != 0
    err = " ".join(capsys.readouterr().err.split())
    assert "a single instant, which no cut-off splits: use --split random" in err
    run = tmp_path / "b"
    assert (
        main(["benchmark", "--data", str(prepared), "--config", "hm_sample", "--models", "popular", "--out", str(run)])
        == 0
    )
    board = json.loads((run / "leaderboard.json").read_text())
    assert board["popular"]["test"]["map@12"] > 0
    capsys.readouterr()
    article = "108775015"  # the first article of articles.csv, written without its leading zero
    assert main(["recommend", "--run", str(run), "--item-id", article, "-n", "3", "--format", "json"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)["results"]
    assert answer["item_id"] == "0108775015"
