"""The streaming H&M transactions reader: every bad-input case is an error with file, line and
column, or a skipped and counted row; the exact (line by line) scan takes over for ragged lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from recsmith.data.sources import _stream
from recsmith.data.sources._stream import BAD, LINE
from recsmith.data.sources.hm import scan_transactions
from recsmith.errors import DataError

HEADER = "t_dat,customer_id,article_id,price,sales_channel_id\n"
GOOD = "2018-09-20,c1,0663713001,0.0508,2\n2018-09-21,c2,108775015,0.03,1\n\n"  # line 4 is blank
TAIL = "2018-09-22,c9,0108775015,0.03,1\n"
ARTICLES = pl.DataFrame({"article_number": [663713001, 108775015], "article": pl.Series([0, 1], dtype=pl.Int32)})


def run(tmp_path: Path, body: bytes, policy: str = "error") -> tuple[pl.DataFrame, dict[str, int], str]:
    path = tmp_path / "transactions_train.csv"
    path.write_bytes(body)
    rows = scan_transactions(path, policy, ARTICLES)  # type: ignore[arg-type]
    out = tmp_path / "stage"
    shutil.rmtree(out, ignore_errors=True)
    rows.sink(lambda lf: lf, out)
    bad: dict[str, int] = {}
    rows.report(pl.scan_parquet(out / "*.parquet"), bad, what="interactions")
    return pl.read_parquet(out / "*.parquet").sort(LINE), bad, rows.mode  # the lookup join reorders


@pytest.mark.parametrize(
    ("row", "column", "reason", "scan"),
    [
        (b"2018-09-20,c3,12a4,0.1,1", "article_id", "at most 10 digits, got '12a4'", "fast"),
        (b"2018-09-20,c3,12345678901,0.1,1", "article_id", "at most 10 digits", "fast"),
        (b"2018-09-20,c3,0999999999,0.1,1", "article_id", "article id '0999999999' is not in articles.csv", "fast"),
        (b"2018/09/20,c3,0108775015,0.1,1", "t_dat", "expected a date like '%Y-%m-%d', got '2018/09/20'", "fast"),
        (b"2018-02-30,c3,0108775015,0.1,1", "t_dat", "expected a date", "fast"),
        (b"2018-09-20,,0108775015,0.1,1", "customer_id", "empty customer_id", "fast"),
        (b"2018-09-20,c3,0108775015,cheap,1", "price", "expected a number, got 'cheap'", "fast"),
        (b"2018-09-20,c3,0108775015,-0.1,1", "price", "negative price -0.1", "fast"),
        (b"2018-09-20,c3,0108775015,0.1,one", "sales_channel_id", "expected an integer, got 'one'", "fast"),
        (b"2018-09-20,c3,0108775015,0.1", "sales_channel_id", "empty sales_channel_id", "fast"),  # truncated
        (b"2018-09-20,c\xff3,0108775015,0.1,1", "customer_id", "not valid utf-8", "fast"),
        (
            b"2018-09-20,c3,0108775015,0.1,1,7",
            "sales_channel_id",
            "expected 5 fields separated by ',', found 6",
            "exact",
        ),
        (b'2018-09-20,"c,3",0108775015,0.1,1', "sales_channel_id", "found 6", "exact"),
    ],
)
def test_bad_row_is_an_error_or_skipped_and_counted(
    tmp_path: Path, row: bytes, column: str, reason: str, scan: str
) -> None:
    body = (HEADER + GOOD).encode() + row + b"\n" + TAIL.encode()
    with pytest.raises(DataError) as err:
        run(tmp_path, body)
    assert (err.value.path, err.value.line, err.value.column) == (str(tmp_path / "transactions_train.csv"), 5, column)
    assert reason in err.value.reason
    frame, bad, mode = run(tmp_path, body, "skip")
    assert bad == {"transactions_train.csv": 1} and mode == scan
    good = frame.filter(pl.col(BAD).is_null())
    assert good[LINE].to_list() == [2, 3, 6]  # the blank line 4 is ignored, the bad line 5 dropped


def test_good_rows_are_converted(tmp_path: Path) -> None:
    frame, bad, mode = run(tmp_path, (HEADER + GOOD + TAIL).encode())
    assert bad == {} and mode == "fast"
    assert frame["article"].to_list() == [0, 1, 1]
    assert frame["article_number"].to_list() == [663713001, 108775015, 108775015]
    assert frame["t_dat"].cast(pl.Utf8).to_list() == ["2018-09-20", "2018-09-21", "2018-09-22"]
    assert frame["price"].dtype == pl.Float32 and frame["sales_channel_id"].dtype == pl.Int16


def test_pandas_index_column_and_crlf(tmp_path: Path) -> None:
    body = ",t_dat,customer_id,article_id,price,sales_channel_id\r\n0,2018-09-20,c1,663713001,0.05,2\r\n"
    frame, bad, _ = run(tmp_path, body.encode())
    assert bad == {} and frame["customer_id"].to_list() == ["c1"] and frame["sales_channel_id"].to_list() == [2]


def test_missing_column_and_all_rows_bad(tmp_path: Path) -> None:
    path = tmp_path / "transactions_train.csv"
    path.write_text("date,customer_id,article_id\n2018-09-20,c1,1\n")
    with pytest.raises(DataError, match="missing column 't_dat'") as err:
        scan_transactions(path, "error", ARTICLES)
    assert (err.value.line, err.value.column) == (1, "t_dat")
    with pytest.raises(DataError, match=r"no interactions in file \(1 malformed rows skipped\)"):
        run(tmp_path, (HEADER + "2018-09-20,c3,0999999999,0.1,1\n").encode(), "skip")


def test_small_chunks_keep_line_numbers_and_only_a_ragged_chunk_is_read_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_stream, "CHUNK_BYTES", 100)  # a few lines per chunk
    rows = [f"2018-09-{20 + i % 5},c{i},0108775015,0.0{i % 9 + 1},1\n" for i in range(40)]
    rows[12] = "2018-09-20,c12,0108775015,0.01,1,extra\n"  # line 14: too many fields
    rows[30] = "2018-09-20,c30,0108775015,-1,1\n"  # line 32: a negative price
    rows.insert(20, "\n")  # a blank line: later lines move down by one
    body = (HEADER + "".join(rows)).encode()
    with pytest.raises(DataError) as err:
        run(tmp_path, body)
    assert (err.value.line, err.value.column) == (14, "sales_channel_id")
    frame, bad, mode = run(tmp_path, body, "skip")
    assert bad == {"transactions_train.csv": 2} and mode == "exact"
    good = frame.filter(pl.col(BAD).is_null())
    assert good.height == 38 and 14 not in good[LINE].to_list() and 33 not in good[LINE].to_list()
    assert good.filter(pl.col(LINE) == 34)["customer_id"].to_list() == ["c31"]
    assert len(list(_stream.chunks(tmp_path / "transactions_train.csv"))) > 5
