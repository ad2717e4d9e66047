"""A bad two_stage config stops when it is read, naming the key and the valid choices."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.config import validate_config
from recsmith.data.side import SideData
from recsmith.errors import ConfigError
from recsmith.models import create_model


def _error(params: dict) -> str:
    with pytest.raises(ConfigError) as err:
        create_model("two_stage", params)
    return str(err.value)


def test_unknown_source_kind_lists_the_kinds() -> None:
    message = _error({"sources": {"knn": {"kind": "neighbours", "n": 5}}})
    assert "two_stage.sources: Value error, sources.knn.kind: unknown kind 'neighbours'" in message
    assert "'model', 'repurchase', 'popular', 'cooccurrence', 'same_group', 'ann'" in message


def test_unknown_key_in_a_source_lists_its_keys() -> None:
    message = _error({"sources": {"again": {"kind": "repurchase", "half_life": 3}}})
    assert "unknown key 'sources.again.half_life'; valid keys: half_life_days, kind, n" in message


def test_unknown_model_of_a_model_source() -> None:
    message = _error({"sources": {"x": {"kind": "model", "model": "nosuch"}}})
    assert "sources.x: unknown model 'nosuch'; available models:" in message


def test_bad_params_of_a_model_source_name_the_model_key() -> None:
    message = _error({"sources": {"knn": {"kind": "model", "model": "itemknn", "params": {"k": "many"}}}})
    assert "sources.knn" in message and "itemknn.k" in message


def test_ranker_param_of_the_wrong_type() -> None:
    message = _error({"ranker": {"name": "lightgbm", "num_leaves": "lots"}})
    assert "two_stage.ranker: Value error, ranker.num_leaves: Input should be a valid integer" in message
    assert "unknown key 'ranker.leaves'; valid keys: bagging_fraction" in _error({"ranker": {"leaves": 3}})
    assert "ranker.name: unknown name 'xgboost'; valid: 'lightgbm', 'din'" in _error({"ranker": {"name": "xgboost"}})


def test_unknown_feature_lists_the_features() -> None:
    message = _error({"features": ["user_count", "user_age"]})
    assert "two_stage.features: Value error, unknown feature(s) ['user_age']; valid features: user_count" in message


def test_the_run_config_names_the_models_section() -> None:
    with pytest.raises(ConfigError, match=r"models\.two_stage\.ranker: Value error, ranker\.learning_rate"):
        validate_config({"models": {"two_stage": {"ranker": {"learning_rate": "fast"}}}})


def _beauty_like_side() -> SideData:
    items = pl.DataFrame({"item": np.arange(4, dtype=np.int32), "attributes": [["a"], ["b"], ["a", "b"], []]})
    return SideData(items=items)


def test_price_on_data_without_prices_stops_before_fitting() -> None:
    model = create_model("two_stage", {"features": ["item_count", "item_price_mean"]})
    with pytest.raises(
        ConfigError,
        match=r"two_stage.features: feature 'item_price_mean' needs a 'price' column.*features for this data: user_count",
    ):
        model.with_side_data(_beauty_like_side())


def test_group_column_that_is_not_an_item_column() -> None:
    model = create_model("two_stage", {"features": ["group_share"], "aggregates": {"groups": ["product_code"]}})
    with pytest.raises(
        ConfigError, match=r"group column 'product_code' is not an item column; item columns: attributes, item"
    ):
        model.with_side_data(_beauty_like_side())
    source = create_model("two_stage", {"sources": {"same": {"kind": "same_group", "column": "brand"}}})
    with pytest.raises(ConfigError, match=r"two_stage.sources.same.column: group column 'brand'"):
        source.with_side_data(_beauty_like_side())
    with pytest.raises(ConfigError, match=r"need item columns in two_stage.aggregates.groups"):
        create_model("two_stage", {"features": ["group_share"]}).with_side_data(_beauty_like_side())


def test_default_sources_are_validated_specs() -> None:
    # the defaults once were raw mappings, so a config without `sources` failed at fit time
    model = create_model("two_stage", {})
    assert {name: spec.kind for name, spec in model.config.sources.items()} == {
        "itemknn": "model",
        "popular": "popular",
    }
    model.with_side_data(_beauty_like_side())  # the data checks read spec.kind / spec.column
