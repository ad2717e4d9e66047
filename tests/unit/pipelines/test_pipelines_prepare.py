"""``prepare_dataset`` is the one preparation entry: the source registry chooses the pipeline (a
source's own preparer, or read + prepare + save) and the source's feature preset."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsmith.data.config import DataConfig
from recsmith.data.dataset import Dataset
from recsmith.data.sources import base
from recsmith.features.config import FeatureConfig
from recsmith.pipelines.prepare import prepare_dataset, with_source_preset

CALLS: list[tuple[DataConfig, FeatureConfig, Path]] = []


def _own_preparer(data: DataConfig, features: FeatureConfig, out, *, overwrite: bool = False) -> dict:
    CALLS.append((data, features, Path(out)))
    return {"counts": {"interactions": 0, "users": 0, "items": 0}, "bad_rows": {}}


@pytest.fixture
def custom_source():
    base.register_source("unit-own", preparer=f"{__name__}:_own_preparer", feature_preset="hm")(lambda path, **kw: None)
    yield "unit-own"
    base._SOURCES.pop("unit-own")


def test_a_source_with_its_own_preparer_runs_it_with_its_preset(custom_source, tmp_path) -> None:
    CALLS.clear()
    manifest = prepare_dataset(DataConfig(source=custom_source, path="raw"), tmp_path / "out")
    assert manifest["counts"]["interactions"] == 0
    ((data, features, out),) = CALLS
    assert data.source == custom_source and out == tmp_path / "out"
    assert features.preset == "hm" and features.enabled  # the H&M preset's defaults


def test_explicit_feature_keys_win_over_the_source_preset() -> None:
    chosen = with_source_preset(FeatureConfig.model_validate({"enabled": False}), "hm")
    assert chosen.preset == "hm" and chosen.enabled is False
    assert with_source_preset(FeatureConfig(), None) == FeatureConfig()


def test_other_sources_are_read_prepared_and_saved(tmp_path) -> None:
    data = DataConfig(source="synthetic", options={"n_customers": 80, "n_articles": 40, "n_transactions": 800})
    manifest = prepare_dataset(data, tmp_path / "out")
    dataset = Dataset.load(tmp_path / "out")
    assert manifest["counts"]["interactions"] == len(dataset.interactions) > 0
    assert not (tmp_path / "out" / "features").exists()  # features off unless asked for
