"""``recsmith data sources [NAME]``: what each source reads and its options, from the source's own
options model (the same model that validates ``data.options``)."""

from __future__ import annotations

import inspect

import pytest

from recsmith.cli.main import main
from recsmith.data.sources.base import available_sources, source_spec
from recsmith.data.sources.generic import CsvOptions
from recsmith.data.sources.synthetic import SyntheticOptions, read_synthetic
from recsmith.data.synthetic.params import DEFAULTS
from recsmith.errors import ConfigError
from recsmith.utils.config_doc import describe_options


def test_the_list_says_what_each_source_reads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "sources"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[:-1]}
    assert set(rows) == set(available_sources())
    for name, line in rows.items():
        assert source_spec(name).summary and line.endswith(source_spec(name).summary)
    assert "100K" in rows["movielens-100k"] and "ratings.csv" in rows["movielens"]
    assert "extension" in rows["generic"] and "SASRec" in rows["sasrec"]


@pytest.mark.parametrize("name", available_sources())
def test_every_option_of_every_source_has_a_meaning(name: str) -> None:
    assert [o.key for o in describe_options(source_spec(name).options) if not o.meaning] == []


def test_one_source_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "sources", "csv"]) == 0
    out = capsys.readouterr().out
    for key in CsvOptions.model_fields:
        assert f"\n  {key} (" in out
    assert "  encoding (str; default: utf-8)\n      text encoding" in out
    assert "  timestamp_col (str | null; default: null)" in out
    assert "--set data.options.KEY=VALUE" in out
    assert main(["data", "sources", "movielens-100k"]) == 0
    assert "options: none" in capsys.readouterr().out
    assert main(["data", "sources", "movielenz"]) == 2
    assert "unknown data source 'movielenz'; available sources: csv" in capsys.readouterr().err


def test_the_options_model_validates_what_it_documents(tmp_path) -> None:
    """A wrong type is refused with the dotted key; the documented default is the one used."""
    (tmp_path / "log.csv").write_text("user_id,item_id\nu1,i1\n")
    reader = source_spec("csv").reader
    with pytest.raises(ConfigError, match=r"data\.options\.explicit"):
        reader(tmp_path / "log.csv", explicit=[1])
    with pytest.raises(ConfigError, match="unknown option.*valid options: encoding, explicit"):
        reader(tmp_path / "log.csv", encodign="latin-1")
    assert reader(tmp_path / "log.csv").source["options"]["encoding"] == "utf-8"


def test_synthetic_options_are_the_generator_parameters() -> None:
    assert set(SyntheticOptions.model_fields) == set(DEFAULTS)
    assert {k: f.default for k, f in SyntheticOptions.model_fields.items()} == DEFAULTS
    keywords = {p for p, v in inspect.signature(read_synthetic).parameters.items() if v.kind is v.KEYWORD_ONLY}
    assert keywords - {"on_bad_rows"} <= set(DEFAULTS)
