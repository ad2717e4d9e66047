"""``csv`` / ``parquet`` / ``generic`` readers: column mapping, timestamps, weights, item table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from recsmith.data.sources import get_source
from recsmith.errors import ConfigError, DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_mapping_and_automatic_timestamps(tmp_path: Path) -> None:
    f = write(
        tmp_path / "log.csv",
        "who,what,when,stars\n"
        " a ,1,2020-01-01,4\n"  # ISO date: UTC midnight; ids are stripped
        "b,2,2020-01-01 10:00:00,3.5\n"  # naive datetime: UTC
        "b,3,1577836800.9,2\n"  # unix seconds, fraction dropped
        'c,"x,y",2020-01-01T10:00:00+02:00,1\n'  # offset; a quoted id with a comma
        "c,4,2020-01-01T10:00:00.5Z,1\n",
    )
    raw = get_source("generic")(f, user_col="who", item_col="what", timestamp_col="when", rating_col="stars")
    assert raw.interactions.rows() == [
        ("a", "1", 1577836800, 4.0),
        ("b", "2", 1577872800, 3.5),
        ("b", "3", 1577836800, 2.0),
        ("c", "x,y", 1577865600, 1.0),
        ("c", "4", 1577872800, 1.0),
    ]
    assert raw.explicit is True  # rating_col
    assert raw.source["name"] == "csv" and raw.source["options"]["timestamp_col"] == "when"


def test_csv_defaults_row_order_and_unit_weight(tmp_path: Path) -> None:
    f = write(tmp_path / "log.csv", "user_id,item_id\nu1,i1\n\nu2,i2\nu1,i3\n")
    raw = get_source("csv")(f)
    assert raw.interactions.rows() == [("u1", "i1", 0, 1.0), ("u2", "i2", 1, 1.0), ("u1", "i3", 2, 1.0)]
    assert raw.explicit is False and raw.items is None


def test_csv_timestamp_format_weight_and_explicit_override(tmp_path: Path) -> None:
    f = write(tmp_path / "log.tsv", "u\ti\tt\tclicks\n1\t2\t31/01/2020 12:00\t3\n")
    options = {"timestamp_col": "t", "timestamp_format": "%d/%m/%Y %H:%M", "weight_col": "clicks", "explicit": True}
    raw = get_source("csv")(f, user_col="u", item_col="i", **options)
    assert raw.interactions.rows() == [("1", "2", 1580472000, 3.0)]
    assert raw.explicit is True


def test_csv_items_table(tmp_path: Path) -> None:
    f = write(tmp_path / "log.csv", "u,i\n1,10\n2,11\n")
    write(tmp_path / "items.csv", 'i,title,colour\n10,"Shirt, blue",blue\n11,Hat,\n')
    raw = get_source("csv")(f, user_col="u", item_col="i", items_path="items.csv", item_name_col="title")
    assert raw.items is not None
    assert raw.items.rows() == [("10", "Shirt, blue", "blue"), ("11", "Hat", None)]
    assert raw.items.columns == ["item_id", "name", "colour"]
    write(tmp_path / "items.csv", "i,title\n10,A\n11,B\n10,C\n")
    with pytest.raises(DataError, match="duplicate item id '10' on lines 2 and 4"):
        get_source("csv")(f, user_col="u", item_col="i", items_path=str(tmp_path / "items.csv"))


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("a,1,yesterday,1", "t", "expected unix seconds or an ISO date"),
        ("a,1,5,lots", "w", "expected a number"),
        (",1,5,1", "u", "empty user id"),
        ("a,1,5", "w", "expected 4 fields"),
    ],
)
def test_csv_bad_rows(tmp_path: Path, row: str, column: str, reason: str) -> None:
    f = write(tmp_path / "log.csv", f"u,i,t,w\na,1,5,1\n{row}\nb,2,6,1\n")
    read = get_source("csv")
    with pytest.raises(DataError) as err:
        read(f, user_col="u", item_col="i", timestamp_col="t", weight_col="w")
    assert (err.value.path, err.value.line, err.value.column) == (str(f), 3, column)
    assert reason in err.value.reason
    raw = read(f, user_col="u", item_col="i", timestamp_col="t", weight_col="w", on_bad_rows="skip")
    assert raw.bad_rows == {"log.csv": 1} and raw.interactions["user_id"].to_list() == ["a", "b"]


def test_csv_config_errors(tmp_path: Path) -> None:
    f = write(tmp_path / "log.csv", "u,i\n1,2\n")
    with pytest.raises(ConfigError, match="valid options: .*user_col"):
        get_source("csv")(f, user="u")
    with pytest.raises(ConfigError, match="not both"):
        get_source("csv")(f, weight_col="u", rating_col="i")
    with pytest.raises(DataError, match="missing column 'user_id'") as err:
        get_source("csv")(f)
    assert err.value.column == "user_id"


def test_parquet_types(tmp_path: Path) -> None:
    f = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "u": [1, 2, 3],
            "i": [10.0, 11.0, 12.0],  # integral floats become "10", not "10.0"
            "t": [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2, 0, 0, 30), dt.datetime(2020, 1, 3)],
            "r": [1, 2, 5],
        }
    ).write_parquet(f)
    raw = get_source("generic")(f, user_col="u", item_col="i", timestamp_col="t", rating_col="r")
    assert raw.interactions.rows() == [
        ("1", "10", 1577836800, 1.0),
        ("2", "11", 1577923230, 2.0),
        ("3", "12", 1578009600, 5.0),
    ]
    assert raw.source["name"] == "parquet"


def test_parquet_nulls_are_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "log.parquet"
    days = [dt.date(2020, 1, 1), dt.date(2020, 1, 2), None]
    pl.DataFrame({"u": ["a", None, "c"], "i": ["x", "y", "z"], "t": days}).write_parquet(f)
    with pytest.raises(DataError, match="missing user id") as err:
        get_source("parquet")(f, user_col="u", item_col="i", timestamp_col="t")
    assert (err.value.line, err.value.column) == (2, "u")  # the 1-based row
    raw = get_source("parquet")(f, user_col="u", item_col="i", timestamp_col="t", on_bad_rows="skip")
    assert raw.interactions.rows() == [("a", "x", 1577836800, 1.0)]
    assert raw.bad_rows == {"log.parquet": 2}


def test_parquet_unreadable(tmp_path: Path) -> None:
    f = write(tmp_path / "log.parquet", "not parquet at all")
    with pytest.raises(DataError, match="Parquet"):
        get_source("generic")(f)


def test_csv_encoding_option(tmp_path: Path) -> None:
    f = tmp_path / "log.csv"
    f.write_bytes("u,i\nJosé,Café\n".encode("latin-1"))
    with pytest.raises(DataError, match="utf-8") as err:
        get_source("csv")(f, user_col="u", item_col="i")
    assert (err.value.line, err.value.column) == (2, "u")
    raw = get_source("csv")(f, user_col="u", item_col="i", encoding="latin-1")
    assert raw.interactions.rows() == [("José", "Café", 0, 1.0)]
    with pytest.raises(ConfigError, match="unknown encoding"):
        get_source("csv")(f, user_col="u", item_col="i", encoding="klingon")
