"""``recsmith models [NAME]``: descriptions, every option with its type / default / meaning, and the
abilities, all read from the models themselves."""

from __future__ import annotations

import pytest

from recsmith.cli.main import main
from recsmith.models.abilities import all_abilities
from recsmith.models.registry import available_models, get_model_class
from recsmith.utils.config_doc import describe_options, type_name


def test_the_list_has_a_description_per_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "description", "extras", "available"]
    rows = {line.split()[0]: line for line in lines[1:-2]}
    assert set(rows) == set(available_models())
    for name in rows:
        summary = get_model_class(name).summary
        assert summary and summary in rows[name], f"{name}: its one-line summary is listed"


@pytest.mark.parametrize("name", available_models())
def test_every_option_of_every_model_has_a_meaning(name: str) -> None:
    """What ``models NAME`` prints comes from the Config's fields: none may lack its description."""
    options = describe_options(get_model_class(name).Config)
    assert [o.key for o in options if not o.meaning] == [], f"{name}: options without a description"


def test_one_model_shows_its_options_defaults_and_abilities(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "itemknn"]) == 0
    out = capsys.readouterr().out
    config = get_model_class("itemknn").Config
    for key, field in config.model_fields.items():
        line = f"  {key} ({type_name(field.annotation)}; default: "
        assert line in out, f"{key} listed with its type"
        assert field.description in out
    assert "  k (int; default: 100)\n      neighbours kept per item" in out
    assert "weighting (one of none, tfidf, bm25; default: none)" in out
    assert "--set models.itemknn.KEY=VALUE" in out
    for ability in ("item_item", "item_similarity"):
        assert f"  {ability}" in out and all_abilities()[ability].purpose in out
    assert "sessions" not in out and "embeddings" not in out, "only the abilities it declares"


def test_nested_options_are_dotted_and_torch_models_point_at_training(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "two_stage"]) == 0
    out = capsys.readouterr().out
    assert "  holdout.method (one of last, days; default: last)" in out
    assert "abilities:\n  session_lists " in out and "\n  sessions " in out  # sorted by name
    assert main(["models", "sasrec", "--train"]) == 0
    out = capsys.readouterr().out
    assert "models: sasrec: train:" in out and "  epochs (int; default: " in out
    assert main(["models", "popular"]) == 0
    assert "abilities: none" in capsys.readouterr().out


def test_an_unknown_model_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "itmeknn"]) == 2
    assert "unknown model 'itmeknn'; available models: als" in capsys.readouterr().err


def test_every_ability_says_what_it_gives() -> None:
    assert [name for name, cls in all_abilities().items() if not cls.purpose] == []
