"""The out-of-core H&M preparation (``recsmith data prepare hm``) on small files: the same dataset as
the in-memory path, the feature store, the competition split, bad rows, atomic output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsmith.cli.main import main
from recsmith.config import DataConfig, load_config
from recsmith.data.dataset import Dataset
from recsmith.data.prepare import prepare
from recsmith.data.sources.hm import read_hm
from recsmith.data.synthetic import write_hm_csv_chunked
from recsmith.errors import ConfigError, DataError
from recsmith.features import FeatureStore
from recsmith.features.store import FeatureWriter
from recsmith.pipelines.prepare import prepare_dataset

SIZES = {"n_customers": 300, "n_articles": 150, "n_transactions": 6000, "start": "2020-06-01", "days": 60}


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hm") / "raw"
    write_hm_csv_chunked(out, block_transactions=2500, seed=3, **SIZES)  # three blocks
    return out


@pytest.fixture(scope="module")
def prepared(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "hm"
    assert main(["data", "prepare", "hm", "--raw", str(raw), "--out", str(out)]) == 0
    return out


def prepare_hm(raw: Path, out: Path, *overrides: str, overwrite: bool = False) -> dict:
    """What `recsmith data prepare hm` runs: the source registry's preparer, the source's feature preset."""
    cfg = load_config(None, ["data.source=hm", f"data.path={json.dumps(str(raw))}", *overrides])
    return prepare_dataset(cfg.data, out, features=cfg.features, overwrite=overwrite)


def test_same_dataset_as_the_in_memory_path(raw: Path, prepared: Path) -> None:
    streamed = Dataset.load(prepared)
    eager = prepare(read_hm(raw), DataConfig(source="hm"))
    assert_frame_equal(streamed.interactions.frame, eager.interactions.frame)
    assert streamed.user_map == eager.user_map and streamed.item_map == eager.item_map
    assert_frame_equal(streamed.items, eager.items)
    assert streamed.users is not None and streamed.users["user"].to_list() == eager.users["user"].to_list()
    assert streamed.item_map.external_ids.str.len_chars().unique().to_list() == [10]


def test_competition_split_and_protocol(prepared: Path) -> None:
    manifest = json.loads((prepared / "manifest.json").read_text())
    # the period is 2020-06-01 .. 2020-07-30: test from 2020-07-24, validation the 7 days before
    assert manifest["protocol"]["split"] == {
        "method": "temporal", "test_time": "2020-07-24", "valid": True, "valid_seconds": 7 * 86_400,
        "drop_cold_users": False,
    }  # fmt: skip
    assert manifest["protocol"]["evaluation"]["filter_seen"] is False
    store = FeatureStore(prepared)
    parts = store.interactions().select("timestamp", "part").collect()
    test_start = 1_595_548_800  # 2020-07-24T00:00Z
    assert (parts.filter(pl.col("part") == 2)["timestamp"] >= test_start).all()
    assert (parts.filter(pl.col("part") == 0)["timestamp"] < test_start - 7 * 86_400).all()
    assert store.manifest["split"]["fit_on"] == "train"


def test_feature_store_contents(prepared: Path) -> None:
    store = FeatureStore(prepared)
    ds = Dataset.load(prepared)
    inter = store.interactions().collect()
    assert inter.height == len(ds.interactions)
    assert {"price", "price_bucket", "sales_channel", "dow_sin", "month_cos", "season_sin", "days_since_first",
            "days_since_prev", "velocity"} <= set(inter.columns)  # fmt: skip
    assert "hour_sin" not in inter.columns  # t_dat is a date
    assert set(inter["sales_channel"].unique().to_list()) <= {1, 2, 3}
    items = store.table("items")
    assert items.height == ds.n_items and items["item"].to_list() == list(range(ds.n_items))
    assert items["image"].str.contains(r"^images/0\d\d/0\d{9}\.jpg$").all()
    assert items["description"].null_count() == 0 and items["text"].str.contains(" | ", literal=True).all()
    users = store.table("users")
    assert users.height == ds.n_users and users["age"].dtype == pl.Float32
    offsets, values = store.jagged("items", "attributes")
    assert len(offsets) == ds.n_items + 1 and offsets[-1] == len(values)
    seq = store.sequences()
    assert len(seq) == ds.n_users and seq.items.tolist() == ds.interactions.frame["item"].to_list()
    assert len(store.manifest["inputs"]["files"]) == 3


def test_customers_are_normalised(tmp_path: Path, raw: Path) -> None:
    src = tmp_path / "raw"
    shutil.copytree(raw, src)
    customers = pl.read_csv(src / "customers.csv", infer_schema=False)
    news = ["NONE", "None", None, "Regularly", "Monthly"]
    customers = customers.with_columns(
        pl.Series("fashion_news_frequency", [news[i % 5] for i in range(customers.height)]),
        pl.Series("FN", [None if i % 2 else "1.0" for i in range(customers.height)]),
    )
    customers.write_csv(src / "customers.csv", null_value="")
    prepare_hm(src, tmp_path / "out")
    users = Dataset.load(tmp_path / "out").users
    assert set(users["fashion_news_frequency"].unique().to_list()) <= {"NONE", "Regularly", "Monthly"}
    assert users["FN"].dtype == pl.Int8 and set(users["FN"].unique().to_list()) <= {0, 1}


def test_bad_rows_error_or_are_counted_in_the_manifest(tmp_path: Path, raw: Path) -> None:
    src = tmp_path / "raw"
    shutil.copytree(raw, src)
    tx = src / "transactions_train.csv"
    lines = tx.read_bytes().splitlines(keepends=True)
    lines[10] = b"2020-06-01,abc,0999999999,0.01,1\n"  # line 11: an article not in articles.csv
    lines[20] = lines[20].replace(b",0.", b",-0.")  # line 21: a negative price
    tx.write_bytes(b"".join(lines))
    with pytest.raises(DataError) as err:
        prepare_hm(src, tmp_path / "out")
    assert (err.value.line, err.value.column) == (11, "article_id") and "not in articles.csv" in err.value.reason
    assert not (tmp_path / "out").exists()
    manifest = prepare_hm(src, tmp_path / "out", "data.on_bad_rows=skip")
    assert manifest["bad_rows"] == {"transactions_train.csv": 2}
    assert manifest["counts"]["interactions"] == SIZES["n_transactions"] - 2


def test_an_interrupted_preparation_leaves_the_previous_output(
    tmp_path: Path, raw: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "hm"
    shutil.copytree(prepared, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(FeatureWriter, "write_table", interrupt)
    with pytest.raises(KeyboardInterrupt):
        prepare_hm(raw, out, overwrite=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["hm"]  # no temporary directory left behind
    Dataset.load(out)


def test_without_side_files_and_with_unlisted_customers(tmp_path: Path, raw: Path) -> None:
    src = tmp_path / "raw"
    src.mkdir()
    shutil.copy(raw / "transactions_train.csv", src)
    customers = pl.read_csv(raw / "customers.csv", infer_schema=False)
    customers.head(100).write_csv(src / "customers.csv")  # most buyers are not listed (as in the sample)
    prepare_hm(src, tmp_path / "out", "features.enabled=false")
    streamed = Dataset.load(tmp_path / "out")
    eager = prepare(read_hm(src), DataConfig(source="hm"))
    assert_frame_equal(streamed.interactions.frame, eager.interactions.frame)
    assert streamed.user_map == eager.user_map and streamed.item_map == eager.item_map
    assert streamed.items is None and streamed.users is not None and streamed.users.height <= 100
    assert not (tmp_path / "out" / "features").exists()


def test_unsupported_preparation_options(tmp_path: Path, raw: Path) -> None:
    for option in ("data.dedupe=last", "data.min_user_interactions=5", "data.rating_threshold=3"):
        with pytest.raises(ConfigError, match="does not support"):
            prepare_hm(raw, tmp_path / "out", option)


def test_benchmark_runs_on_the_prepared_data_with_its_protocol(prepared: Path, tmp_path: Path) -> None:
    protocol = json.loads((prepared / "manifest.json").read_text())["protocol"]
    sets = [
        f"{section}.{k}={json.dumps(v)}" for section in ("split", "evaluation") for k, v in protocol[section].items()
    ]
    args = ["benchmark", "--data", str(prepared), "--models", "popular", "--out", str(tmp_path / "run")]
    assert main([*args, *(x for s in sets for x in ("--set", s))]) == 0
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert 0.0 < board["popular"]["test"]["map@12"] <= 1.0
    assert np.isfinite(board["popular"]["valid"]["map@12"])


def test_article_ids_are_found_with_and_without_their_leading_zeros(raw: Path, prepared: Path) -> None:
    """`0108775015` is also `108775015` (as pandas or a spreadsheet shows it), in the streamed and the
    in-memory dataset, and in a run made from it (the padding travels with the ids file)."""
    from recsmith.config import RunConfig
    from recsmith.pipelines.benchmark import run_benchmark
    from recsmith.runs.layout import Run

    streamed = Dataset.load(prepared)
    padded = streamed.item_map.external_ids.to_list()[:5]
    assert all(p.startswith("0") and len(p) == 10 for p in padded)
    short = [p.lstrip("0") for p in padded]
    for item_map in (streamed.item_map, prepare(read_hm(raw), DataConfig(source="hm")).item_map):
        assert item_map.to_internal(short).tolist() == item_map.to_internal(padded).tolist() == [0, 1, 2, 3, 4]
        assert short[0] in item_map
    cfg = RunConfig.model_validate({"evaluation": {"ks": [5], "select_metric": "ndcg@5"}})
    run_dir = prepared.parent / "run"
    run_benchmark(streamed, cfg, ["popular"], run_dir, dataset_path=prepared)
    assert Run.open(run_dir).item_map.to_internal([short[2]]).tolist() == [2]
