"""The shared line / field parsing under the sources (``sources/_text.py``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsmith.data.sources import _text
from recsmith.data.sources._text import read_lines, read_table
from recsmith.errors import ConfigError, DataError


@pytest.mark.parametrize("odd", [b"", b"\x1f"])  # a \x1f byte makes Polars fail: the exact path
def test_read_lines_numbers_physical_lines(tmp_path: Path, odd: bytes) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"\xef\xbb\xbfa\r\n\r\nb" + odd + b"\n  \nc")
    lines = read_lines(f)
    assert lines[_text.LINE].to_list() == [1, 2, 3, 4, 5]
    assert lines[_text.TEXT].to_list() == ["a", "", "b" + odd.decode(), "  ", "c"]
    assert not lines[_text.UNDECODABLE].any()


def test_read_lines_latin1_and_unknown_encoding(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes("Café\n".encode("latin-1"))
    assert read_lines(f, "latin-1")[_text.TEXT].to_list() == ["Café"]
    with pytest.raises(ConfigError, match="unknown encoding"):
        read_lines(f, "no-such-codec")


def test_undecodable_lines_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the exact (chunked) path must count lines across chunk boundaries
    monkeypatch.setattr(_text, "_CHUNK_BYTES", 8)
    f = tmp_path / "a.txt"
    f.write_bytes(b"".join(b"line %d\n" % i for i in range(1, 7)) + b"bad \xff\xfe\n" + b"line 8\n" + b"\xc3\n")
    lines = read_lines(f)
    assert lines.height == 9
    assert lines.filter(pl.col(_text.UNDECODABLE))[_text.LINE].to_list() == [7, 9]
    assert lines[_text.TEXT][7] == "line 8"


@pytest.mark.parametrize("blank", [False, True])
def test_fast_and_exact_paths_agree(tmp_path: Path, blank: bool) -> None:
    # a blank line sends the file down the exact path; the rows must be the same either way
    body = "".join(f"{u},{u % 7},{u % 5}.5,{1000 + u}\n" for u in range(200))
    f = tmp_path / "r.csv"
    f.write_text("u,i,r,t\n" + ("\n" if blank else "") + body)
    rows = read_table(f, policy="error", sep=",", quoted=True, types={"r": pl.Float64(), "t": pl.Int64()})
    assert (rows.frame["r"].dtype == pl.Float64) is not blank  # typed only on the fast path
    rows.to_id("u")
    rows.to_float("r")
    rows.to_int("t")
    frame = rows.finish({})
    us = range(200)
    expected = pl.DataFrame(
        {
            "u": [str(u) for u in us],
            "i": [str(u % 7) for u in us],
            "r": [u % 5 + 0.5 for u in us],
            "t": [1000 + u for u in us],
        }
    )
    assert_frame_equal(frame, expected)


def test_quoted_fields(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    f.write_text('a,b,c\n"x, y","say ""hi""",\n,"",z\n"multi\nline",2,3\n')
    frame = read_table(f, policy="error", sep=",", quoted=True).finish({})
    assert frame.rows() == [("x, y", 'say "hi"', ""), ("", "", "z"), ("multi\nline", "2", "3")]


def test_stray_quote_is_malformed(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    f.write_text('a,b\n1,x"y"z\n2,ok\n')
    with pytest.raises(DataError, match="malformed quoting") as err:
        read_table(f, policy="error", sep=",", quoted=True).finish({})
    assert err.value.line == 2


def test_duplicate_header_names(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match="duplicate column name") as err:
        read_table(f, policy="error", sep=",", quoted=True)
    assert err.value.line == 1
