"""IdMap lookups of zero-padded numeric ids (H&M articles) with and without the leading zeros."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsmith.data.idmap import IdMap
from recsmith.errors import UnknownIdError


def test_padded_ids_are_found_without_their_zeros_and_the_padding_is_saved(tmp_path: Path) -> None:
    ids = IdMap(["0108775015", "0000000042", "A12"], kind="item", digits=10)
    assert ids.to_internal(["108775015", "0108775015", "42", "A12"]).tolist() == [0, 0, 1, 2]
    assert "108775015" in ids and ids.to_external([0]) == ["0108775015"], "answers keep the padded id"
    with pytest.raises(UnknownIdError, match="unknown item id '99'"):
        ids.to_internal(["99"])
    assert ids.to_internal(["00108775015"], strict=False).tolist() == [-1], "longer than the width: as given"
    ids.save(tmp_path / "ids.parquet")
    loaded = IdMap.load(tmp_path / "ids.parquet", kind="item")
    assert loaded.digits == 10 and loaded.to_internal(["42"]).tolist() == [1]


def test_without_digits_ids_are_exact(tmp_path: Path) -> None:
    ids = IdMap(["0108775015", "7"], kind="item")
    assert ids.to_internal(["108775015", "07"], strict=False).tolist() == [-1, -1]
    ids.save(tmp_path / "ids.parquet")
    assert IdMap.load(tmp_path / "ids.parquet").digits is None


def test_the_vectorised_spelling_matches_the_lookup() -> None:
    import polars as pl

    ids = IdMap(["0108775015", "A12"], kind="item", digits=10)
    frame = pl.DataFrame({"item_id": ["108775015", "0108775015", "A12", "12345678901", "x1"]})
    assert frame.select(ids.canonical("item_id"))["item_id"].to_list() == [
        "0108775015", "0108775015", "A12", "12345678901", "x1"
    ]  # fmt: skip
    plain = IdMap(["7"], kind="item")
    assert frame.select(plain.canonical("item_id"))["item_id"].to_list() == frame["item_id"].to_list()
