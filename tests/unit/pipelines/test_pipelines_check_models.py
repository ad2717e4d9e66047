"""A run checks every chosen model (registered, valid config, extras installed) before any work."""

from __future__ import annotations

import pytest

from recsmith.config import load_config
from recsmith.errors import ConfigError, MissingExtraError
from recsmith.pipelines.builder import check_models


def test_missing_extra_of_a_chosen_model_stops_the_run(block_modules):
    cfg = load_config(
        None, ["models.popular={}", "models.mf={dim: 8}", "models.tower_text={model: two_tower, text_columns: [name]}"]
    )
    block_modules("transformers")
    check_models(cfg, ["popular", "mf"])  # neither needs [text]
    with pytest.raises(MissingExtraError, match=r"^model 'two_tower' needs recsmith's text extra"):
        check_models(cfg, ["popular", "tower_text"])  # an alias is checked with its own config
    block_modules("torch")
    with pytest.raises(MissingExtraError, match=r"^model 'mf' needs recsmith's torch extra"):
        check_models(cfg, ["popular", "mf"])


def test_unknown_model_is_still_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        check_models(load_config(None), ["nope"])
