"""Generic interaction files with a column mapping: ``csv``, ``parquet``, and ``generic`` (by extension).

``path`` is the interactions file: a CSV with a header (UTF-8 by default; fields may be quoted
``"..."``) or a Parquet file (``.parquet`` / ``.pq``). Options (declared in :class:`ParquetOptions`
and :class:`CsvOptions`, listed by ``recsmith data sources csv``):

``user_col``, ``item_col`` (default ``user_id`` / ``item_id``)
    the id columns; ids become strings (integers as decimals, ``" a "`` stripped to ``"a"``).
``timestamp_col`` (optional)
    numbers are unix seconds (fractions dropped); ISO dates / datetimes (``2020-01-31``,
    ``2020-01-31 12:00``, ``2020-01-31T12:00:00.5+02:00``) are parsed automatically, naive ones as
    UTC; ``timestamp_format`` (strptime, e.g. ``%d/%m/%Y %H:%M``) parses other strings; Parquet
    Date / Datetime columns are converted. Without it, ``timestamp`` is the 0-based row number in
    the file, so file order is the time order.
``weight_col`` or ``rating_col`` (optional, not both)
    a number per row; without either, ``weight`` is 1.0.
``explicit`` (default: true with ``rating_col``, else false)
    whether weights are ratings (then a rating threshold can apply in preparation).
``sep`` (CSV; default ``,``, or a tab for ``.tsv``), ``encoding`` (CSV; default ``utf-8``).
``items_path``, ``items_item_col``, ``item_name_col`` (optional)
    an item table (CSV or Parquet; a relative path is also looked up beside ``path``), keyed by
    ``items_item_col`` (default: ``item_col``); ``item_name_col`` becomes ``name``; every other
    column is kept as an item attribute.

For Parquet, an error's ``line`` is the 1-based row number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from recsmith.data.schema import Columns
from recsmith.data.sources._text import LINE, Rows, check_policy, read_table, source_meta, take_options
from recsmith.data.sources.base import BadRowPolicy, RawData, SourceOptions, register_source, require_file
from recsmith.errors import ConfigError, DataError

_PARQUET_EXT = (".parquet", ".pq")
_ORDER = "__order"


class ParquetOptions(SourceOptions):
    """The column mapping of an interactions table (and of its optional item table)."""

    user_col: str = Field(Columns.UserId, description="column of the user ids (integers become decimal strings)")
    item_col: str = Field(Columns.ItemId, description="column of the item ids")
    timestamp_col: str | None = Field(
        None,
        description="column of the times: unix seconds, ISO dates / datetimes (naive ones UTC) or Parquet dates; "
        "null: the row number, so file order is time order",
    )
    timestamp_format: str | None = Field(None, description="strptime format of other time strings, e.g. %d/%m/%Y %H:%M")
    weight_col: str | None = Field(None, description="a number per row (a count, a duration); null: weight 1.0")
    rating_col: str | None = Field(None, description="a rating per row (explicit feedback); not with weight_col")
    explicit: bool | None = Field(
        None, description="whether weights are ratings (a rating threshold can apply); null: true with rating_col"
    )
    items_path: str | None = Field(
        None, description="item table (CSV or Parquet; a relative path is looked up beside path too)"
    )
    items_item_col: str | None = Field(None, description="the item table's id column; null: item_col")
    item_name_col: str | None = Field(
        None, description="the item table's column of names (shown by recommend); every other column is an attribute"
    )


class CsvOptions(ParquetOptions):
    """:class:`ParquetOptions` plus how the CSV text is read."""

    sep: str | None = Field(None, description="field separator; null: ',' (a tab for .tsv files)")
    encoding: str = Field("utf-8", description="text encoding, e.g. latin-1")


@register_source(
    "csv", summary="an interactions CSV with a header (--path FILE), any column names, optional item table",
    options=CsvOptions,
)  # fmt: skip
def read_csv(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """Interactions from a CSV file with a header (see the module docstring for the options)."""
    return _read("csv", Path(path), check_policy(on_bad_rows), take_options("csv", options, CsvOptions))


@register_source(
    "parquet", summary="an interactions Parquet file (--path FILE), any column names, optional item table",
    options=ParquetOptions,
)  # fmt: skip
def read_parquet(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """Interactions from a Parquet file (see the module docstring for the options)."""
    return _read("parquet", Path(path), check_policy(on_bad_rows), take_options("parquet", options, ParquetOptions))


@register_source(
    "generic", summary="csv or parquet chosen by the file's extension (.parquet / .pq: parquet; sep, encoding: CSV only)",
    options=CsvOptions,
)  # fmt: skip
def read_generic(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """``parquet`` for ``.parquet`` / ``.pq`` files, else ``csv``."""
    if Path(path).suffix.lower() in _PARQUET_EXT:
        return read_parquet(path, on_bad_rows=on_bad_rows, **options)
    return read_csv(path, on_bad_rows=on_bad_rows, **options)


def _read(kind: str, path: Path, policy: BadRowPolicy, opts: dict[str, Any]) -> RawData:
    if opts["weight_col"] and opts["rating_col"]:
        raise ConfigError("set weight_col or rating_col, not both")
    if opts["explicit"] is not None and not isinstance(opts["explicit"], bool):
        raise ConfigError(f"explicit must be true or false, got {opts['explicit']!r}")
    weight_col = opts["weight_col"] or opts["rating_col"]
    ts_col = opts["timestamp_col"]
    require_file(path, "interactions file")
    bad: dict[str, int] = {}
    files = [path]

    rows = _rows(kind, path, policy, opts, numbers=[weight_col] if weight_col else [])
    rows.require_columns([c for c in (opts["user_col"], opts["item_col"], ts_col, weight_col) if c])
    for column, what in ((opts["user_col"], "user id"), (opts["item_col"], "item id")):
        _ids(rows, column, what)
    if weight_col:
        rows.parse(weight_col, pl.Float64(), "a number", value=_number(rows, weight_col))
    if ts_col:
        fmt = opts["timestamp_format"]
        rows.parse(ts_col, pl.Int64(), _timestamp_what(fmt), value=_timestamp(rows, ts_col, fmt))
    else:  # file order is the time order
        rows.update(pl.int_range(pl.len(), dtype=pl.Int64).alias(_ORDER))
    frame = rows.finish(bad, what="interactions", keep=(_ORDER,))
    interactions = frame.select(
        pl.col(opts["user_col"]).alias(Columns.UserId),
        pl.col(opts["item_col"]).alias(Columns.ItemId),
        pl.col(ts_col or _ORDER).alias(Columns.Timestamp),
        (pl.col(weight_col) if weight_col else pl.lit(1.0)).alias(Columns.Weight),
    )

    items = None
    if opts["items_path"]:
        items_file = _items_file(Path(opts["items_path"]), path)
        files.append(items_file)
        items = _items(items_file, policy, opts, bad)

    explicit = opts["explicit"] if opts["explicit"] is not None else bool(opts["rating_col"])
    meta = source_meta(kind, path, files, opts)
    return RawData(interactions, items=items, source=meta, bad_rows=bad, explicit=explicit)


def _rows(kind: str, path: Path, policy: BadRowPolicy, opts: dict[str, Any], numbers: list[str]) -> Rows:
    if kind == "parquet" or path.suffix.lower() in _PARQUET_EXT:
        try:
            frame = pl.read_parquet(path)
        except Exception as e:
            raise DataError(f"not a readable Parquet file ({e})", path=str(path)) from None
        rows = Rows(path, frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64)), policy)
        rows.header = frame.columns
        return rows
    sep = opts.get("sep") or ("\t" if path.suffix.lower() == ".tsv" else ",")
    if not isinstance(sep, str) or not sep:
        raise ConfigError(f"sep must be a non-empty string, got {sep!r}")
    types = {c: pl.Float64() for c in numbers}
    encoding = opts.get("encoding") or "utf-8"
    return read_table(path, policy=policy, sep=sep, encoding=encoding, quoted=len(sep) == 1, types=types)


def _ids(rows: Rows, column: str, what: str) -> None:
    """Ids as non-empty strings: integral numbers as decimals, text stripped."""
    dtype = rows.frame.schema[column]
    if dtype.is_float():  # Parquet may store integer ids as floats: 5.0 -> "5"
        rows.flag(~pl.col(column).is_finite(), column, lambda row: f"expected an {what}, got {row[column]}")
        whole = pl.col(column) == pl.col(column).floor()
        as_int = pl.col(column).cast(pl.Int64, strict=False).cast(pl.Utf8)
        rows.update(pl.when(whole).then(as_int).otherwise(pl.col(column).cast(pl.Utf8)).alias(column))
    elif dtype != pl.Utf8:
        rows.update(pl.col(column).cast(pl.Utf8))
    rows.flag(pl.col(column).is_null(), column, f"missing {what}")
    rows.require(column, what)


def _number(rows: Rows, column: str) -> pl.Expr:
    if rows.frame.schema[column] == pl.Utf8:
        return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.col(column).cast(pl.Float64, strict=False)


def _timestamp_what(fmt: str | None) -> str:
    return f"a time like {fmt!r}" if fmt else "unix seconds or an ISO date / datetime"


def _timestamp(rows: Rows, column: str, fmt: str | None) -> pl.Expr:
    """Unix seconds (Int64) from numbers, Date / Datetime, or text; null where unparsable."""
    dtype = rows.frame.schema[column]
    c = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return c.dt.epoch("s")
    if dtype == pl.Date:
        return c.cast(pl.Int64) * 86_400
    if dtype.is_numeric():
        return c.cast(pl.Float64).floor().cast(pl.Int64, strict=False)
    text = c.cast(pl.Utf8).str.strip_chars()
    if fmt:
        aware = "%z" in fmt or "%Z" in fmt
        return text.str.to_datetime(fmt, strict=False, time_zone="UTC" if aware else None).dt.epoch("s")
    iso = text.str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
    return pl.coalesce(
        text.cast(pl.Float64, strict=False).floor().cast(pl.Int64, strict=False),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_zone="UTC").dt.epoch("s"),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False).dt.epoch("s"),
        iso.str.to_datetime("%Y-%m-%dT%H:%M", strict=False).dt.epoch("s"),
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Int64) * 86_400,
    )


def _items_file(items_path: Path, data_path: Path) -> Path:
    if not items_path.is_absolute() and not items_path.exists() and (data_path.parent / items_path).exists():
        items_path = data_path.parent / items_path
    return require_file(items_path, "items file")


def _items(path: Path, policy: BadRowPolicy, opts: dict[str, Any], bad: dict[str, int]) -> pl.DataFrame:
    key = opts["items_item_col"] or opts["item_col"]
    name = opts["item_name_col"]
    rows = _rows("csv", path, policy, opts, numbers=[])
    rows.require_columns([c for c in (key, name) if c])
    _ids(rows, key, "item id")
    others = [c for c in rows.header if c not in (key, name)]
    strings = [c for c in others if rows.frame.schema[c] == pl.Utf8]
    rows.empty_to_null(*strings)
    rows.unique(key, "item id")
    frame = rows.finish(bad, what="items")
    return frame.select(
        pl.col(key).alias(Columns.ItemId),
        *([pl.col(name).alias(Columns.Name)] if name else []),
        *[c for c in others if c not in (Columns.ItemId, Columns.Name)],
    )
