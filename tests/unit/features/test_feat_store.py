"""The feature store of a prepared dataset: layout, manifest, split, training-only fitting,
sequences, jagged arrays, and encoding new rows with the stored encoders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsmith.config import DataConfig, load_config
from recsmith.data.dataset import Dataset
from recsmith.data.prepare import prepare
from recsmith.data.sources.base import RawData
from recsmith.errors import ConfigError
from recsmith.features import FeatureStore
from recsmith.features.store import save_with_features, source_inputs

DAY = 86_400
T0 = 1_600_000_000 - 1_600_000_000 % DAY  # a midnight


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """u1 and u2 buy in the first 10 days; on the last day, u3 buys item c (seen only then)."""
    rows = [
        ("u1", "a", T0, 1.0), ("u1", "b", T0 + DAY, 1.0), ("u2", "a", T0 + 2 * DAY, 1.0),
        ("u2", "a", T0 + 2 * DAY, 1.0), ("u1", "a", T0 + 9 * DAY, 1.0),
        ("u2", "b", T0 + 11 * DAY, 1.0),  # validation (days 11..12 with valid_days=2, test_days=1)
        ("u3", "c", T0 + 13 * DAY + 60, 1.0), ("u1", "c", T0 + 13 * DAY, 1.0),  # test: the last day
    ]  # fmt: skip
    interactions = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp", "weight"], orient="row")
    items = pl.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "name": ["Strap top", "Jeans", "Neon cap"],
            "colour": ["Black", "Blue", "Neon"],
            "tags": ["basic|cotton", "denim", "neon|summer"],
        }
    )
    users = pl.DataFrame({"user_id": ["u1", "u2", "u3"], "age": [20.0, 40.0, 90.0]})
    raw = RawData(interactions, items=items, users=users, source={"name": "test"})
    cfg = load_config(
        None,
        [
            "features.enabled=true", "features.split.test_days=1", "features.split.valid_days=2",
            "features.items.colour.kind=categorical", "features.items.tags.kind=multi", "features.items.tags.sep=|",
            "features.items.name.kind=text", "features.items.image.kind=image",
            "features.items.image.template=img/{item_id}.jpg",
            "features.users.age.kind=numeric", "features.interactions.rating.kind=numeric",
            "features.interactions.rating.column=weight", "features.interactions.rating.transform=none",
        ],
    )  # fmt: skip
    dataset = prepare(raw, DataConfig(source="test"))
    out = tmp_path_factory.mktemp("store") / "ds"
    save_with_features(dataset, cfg.features, out, inputs=source_inputs(raw.source))
    return out


def test_dataset_still_loads_and_points_to_its_features(store_dir: Path) -> None:
    ds = Dataset.load(store_dir)
    assert len(ds.interactions) == 8 and ds.n_users == 3 and ds.n_items == 3
    manifest = json.loads((store_dir / "manifest.json").read_text())
    assert manifest["features"] == "features"
    split = manifest["protocol"]["split"]
    assert split["method"] == "temporal" and split["valid_seconds"] == 2 * DAY


def test_manifest(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    m = store.manifest
    assert m["counts"] == {"users": 3, "items": 3, "interactions": 8}
    assert m["split"]["interactions"] == {"train": 5, "valid": 1, "test": 2}
    assert m["split"]["fit_on"] == "train"
    assert len(m["inputs"]["sha256"]) == 64
    items = m["tables"]["items"]
    assert items["rows"] == 3 and set(items["features"]) == {"colour", "tags", "name", "image"}
    assert items["schema"]["colour"] == "Int32" and items["schema"]["tags"] == "List(Int32)"
    assert m["tables"]["interactions"]["schema"]["part"] == "Int8"


def test_part_and_interaction_features_are_row_aligned(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    frame = store.interactions().collect()
    ds = Dataset.load(store_dir)
    assert frame.select("user", "item", "timestamp").equals(ds.interactions.frame.select("user", "item", "timestamp"))
    last_day = T0 + 13 * DAY
    expected = np.where(frame["timestamp"] >= last_day, 2, np.where(frame["timestamp"] >= last_day - 2 * DAY, 1, 0))
    assert frame["part"].to_list() == expected.tolist()
    assert {"rating", "dow_sin", "season_cos", "days_since_first", "days_since_prev", "velocity"} <= set(frame.columns)
    assert frame["rating"].to_list() == frame["weight"].to_list()


def test_a_feature_may_not_shadow_a_column(tmp_path: Path) -> None:
    raw = RawData(pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [T0], "weight": [1.0]}))
    cfg = load_config(None, ["features.enabled=true", "features.interactions.weight.kind=numeric"]).features
    with pytest.raises(ConfigError, match="features.interactions.weight: the name is taken"):
        save_with_features(prepare(raw, DataConfig(source="x")), cfg, tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_encoders_are_fitted_on_the_training_part_only(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    ds = Dataset.load(store_dir)
    items = store.table("items")
    c = int(ds.item_map.to_internal(["c"])[0])
    colour = items.sort("item")["colour"].to_list()
    # item c is bought only in the test part: its colour "Neon" is out of vocabulary (id 3 = 1 + 2 known)
    assert colour[c] == 3 and sorted(colour[:c] + colour[c + 1 :]) == [1, 2]
    age = store.encoder("users", "age").state()
    assert age["mean"] == pytest.approx(30.0)  # u3 (age 90) has no training interaction


def test_sequences_are_csr_over_the_sorted_interactions(store_dir: Path) -> None:
    seq = FeatureStore(store_dir).sequences()
    ds = Dataset.load(store_dir)
    frame = ds.interactions.frame
    assert isinstance(seq.items, np.memmap) and len(seq) == ds.n_users
    assert seq.offsets.tolist() == [0, *np.cumsum(frame.group_by("user").len().sort("user")["len"]).tolist()]
    assert seq.items.tolist() == frame["item"].to_list()
    assert seq.timestamps.tolist() == frame["timestamp"].to_list()
    _items, ts = seq.user(0)
    assert list(ts) == sorted(ts)
    for path in (store_dir / "features" / "sequences").glob("*.npy"):
        np.load(path, mmap_mode="r", allow_pickle=False)


def test_multi_valued_jagged_arrays(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    offsets, values = store.jagged("items", "tags")
    tags = store.table("items").sort("item")["tags"].to_list()
    assert offsets.tolist() == np.cumsum([0, *[len(t) for t in tags]]).tolist()
    assert values.tolist() == [v for t in tags for v in t]


def test_serving_encodes_new_rows_like_the_stored_ones(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    ds = Dataset.load(store_dir)
    raw_items = ds.items.sort("item")
    stored = store.table("items").sort("item").drop("item")
    assert store.encode("items", raw_items).equals(stored)
    new = store.encode("items", pl.DataFrame({"item_id": ["z"], "name": ["Hat"], "colour": ["Black"], "tags": [None]}))
    assert new["image"].to_list() == ["img/z.jpg"] and new["tags"].to_list() == [[]]


def test_no_training_rows_falls_back_to_all_and_says_so(tmp_path: Path) -> None:
    interactions = pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [T0], "weight": [1.0]})
    raw = RawData(interactions, source={"name": "one-day"})
    cfg = load_config(None, ["features.enabled=true", "features.split.test_days=7"]).features
    manifest = save_with_features(prepare(raw, DataConfig(source="x")), cfg, tmp_path / "d")
    assert manifest["split"]["fit_on"].startswith("all")
    assert manifest["split"]["interactions"]["test"] == 1
