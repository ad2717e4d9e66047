"""``sequences`` and ``sasrec`` readers, with and without the side files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsmith.data.sources import get_source
from recsmith.errors import DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sequences_positions_and_repeats(tmp_path: Path) -> None:
    f = write(tmp_path / "Toy.txt", "1 10 11 10\n2\t12  13 \n\n")
    raw = get_source("sequences")(f)
    expected = pl.DataFrame(
        {
            "user_id": ["1", "1", "1", "2", "2"],
            "item_id": ["10", "11", "10", "12", "13"],  # the repeated item is kept
            "timestamp": [0, 1, 2, 0, 1],
            "weight": [1.0] * 5,
        },
        schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "timestamp": pl.Int64, "weight": pl.Float32},
    )
    assert_frame_equal(raw.interactions, expected)
    assert raw.items is None and raw.explicit is False
    assert raw.source["name"] == "sequences" and raw.source["files"] == [{"path": str(f), "bytes": f.stat().st_size}]


def test_sequences_items_from_side_files(tmp_path: Path) -> None:
    f = write(tmp_path / "Toy.txt", "1 1 2 3\n2 2 3\n3 3 1\n")
    write(tmp_path / "Toy_item2attributes.json", json.dumps({"1": [1, 2], "2": [1, 3], "3": [], "4": [9]}))
    maps = {
        "id2item": {"1": "B001", "2": "B002", "3": "B003", "4": "B004"},
        "id2attribute": {"1": "Makeup", "2": "Crabtree &amp; Evelyn", "3": "COKA"},
        "user2id": {"AX": "1"},
    }
    write(tmp_path / "datamaps.json", json.dumps(maps))
    raw = get_source("sequences")(f)
    items = raw.items
    assert items is not None
    assert items.columns == ["item_id", "name", "asin", "attributes"]
    assert items["item_id"].to_list() == ["1", "2", "3", "4"]  # also items seen only in the side files
    assert items["asin"].to_list() == ["B001", "B002", "B003", "B004"]
    # attribute names in file order, HTML entities decoded; an unnamed attribute id stays as is
    assert items["attributes"].to_list() == [["Makeup", "Crabtree & Evelyn"], ["Makeup", "COKA"], [], ["9"]]
    # name: the rarer attributes first ("Makeup" is on two items), then the ASIN
    assert items["name"].to_list() == ["Crabtree & Evelyn / Makeup (B001)", "COKA / Makeup (B002)", "B003", "9 (B004)"]
    assert {Path(x["path"]).name for x in raw.source["files"]} == {
        "Toy.txt",
        "Toy_item2attributes.json",
        "datamaps.json",
    }


def test_sequences_inverted_maps(tmp_path: Path) -> None:
    f = write(tmp_path / "Toy.txt", "1 1 2\n")
    write(tmp_path / "datamaps.json", json.dumps({"item2id": {"B001": 1, "B002": 2}}))
    raw = get_source("sequences")(f)
    assert raw.items is not None
    assert raw.items["name"].to_list() == ["B001", "B002"]


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        ("1 1 2\n2\n3 4\n", 2, "item_ids", "no items"),
        ("1 1 2\n2 3\n1 4\n", 3, "user_id", "duplicate user id '1' on lines 1 and 3"),
    ],
)
def test_sequences_bad_lines(tmp_path: Path, text: str, line: int, column: str, reason: str) -> None:
    f = write(tmp_path / "s.txt", text)
    with pytest.raises(DataError) as err:
        get_source("sequences")(f)
    assert (err.value.path, err.value.line, err.value.column) == (str(f), line, column)
    assert reason in err.value.reason
    raw = get_source("sequences")(f, on_bad_rows="skip")
    assert raw.bad_rows == {"s.txt": 1}
    assert raw.interactions["user_id"].unique().len() == 2


def test_sequences_undecodable_and_empty(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_bytes(b"1 1 2\n2 3 \xe94\n")
    with pytest.raises(DataError, match="utf-8") as err:
        get_source("sequences")(f)
    assert (err.value.line, err.value.column) == (2, "item_ids")
    f.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        get_source("sequences")(f)
    with pytest.raises(DataError, match="not a directory"):
        get_source("sequences")(tmp_path)


def test_sequences_bad_side_file(tmp_path: Path) -> None:
    f = write(tmp_path / "Toy.txt", "1 1 2\n")
    side = write(tmp_path / "Toy_item2attributes.json", '{"1": [1,\n 2,, 3]}')
    with pytest.raises(DataError, match="invalid JSON") as err:
        get_source("sequences")(f)
    assert (err.value.path, err.value.line) == (str(side), 2)


def test_sasrec_pairs(tmp_path: Path) -> None:
    f = write(tmp_path / "Toy.txt", "1 5\n2 6\n1 7\n1 5\n2 8\n")
    raw = get_source("sasrec")(f)
    assert raw.interactions.rows() == [
        ("1", "5", 0, 1.0),
        ("2", "6", 0, 1.0),
        ("1", "7", 1, 1.0),
        ("1", "5", 2, 1.0),
        ("2", "8", 1, 1.0),
    ]


def test_sasrec_bad_field_count(tmp_path: Path) -> None:
    f = write(tmp_path / "Toy.txt", "1 5\n2 6 7\n1\n1 8\n")
    with pytest.raises(DataError, match="found 3 fields") as err:
        get_source("sasrec")(f)
    assert (err.value.line, err.value.column) == (2, "item_id")
    raw = get_source("sasrec")(f, on_bad_rows="skip")
    assert raw.bad_rows == {"Toy.txt": 2}
    assert raw.interactions["timestamp"].to_list() == [0, 1]  # positions among the kept rows
