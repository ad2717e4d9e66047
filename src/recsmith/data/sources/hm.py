"""H&M Personalized Fashion Recommendations (Kaggle). ``path`` is the directory of the CSV files.

- ``transactions_train.csv`` (required): ``t_dat,customer_id,article_id,price,sales_channel_id``.
  One row is one purchase: ``weight`` 1.0, ``timestamp`` = ``t_dat`` (``YYYY-MM-DD``) as unix
  seconds at UTC midnight, so all purchases of a day tie (preparation keeps file order for ties).
  ``price`` and ``sales_channel_id`` are checked but dropped: the raw interactions table has no
  room for them (the feature store reads them).
- ``articles.csv`` (optional) -> items: ``item_id``, ``name`` (= ``prod_name``) and every other
  article column (the numeric codes such as ``product_code``, ``*_no``, ``colour_group_code`` as
  Int64, the rest strings; empty means null), e.g. ``product_type_name``, ``colour_group_name``, ``department_name``,
  ``index_group_name``, ``detail_desc``.
- ``customers.csv`` (optional) -> users: ``user_id`` (= ``customer_id``), ``FN``, ``Active``,
  ``age`` (Float32, null when missing), ``club_member_status``, ``fashion_news_frequency``,
  ``postal_code``.

``article_id`` is always the competition's 10-character string with the leading zero(s):
``108775015`` (as pandas writes it after reading it as a number) becomes ``0108775015``. An
unnamed leading index column, as pandas writes it, is ignored in any of the files. Columns are
found by header name, so their order does not matter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.sources._text import Rows, check_policy, directory, read_table, source_meta, take_options
from recsmith.data.sources.base import BadRowPolicy, RawData, register_source, require_file

_ARTICLE_NUMBERS = [
    "product_code", "product_type_no", "graphical_appearance_no", "colour_group_code",
    "perceived_colour_value_id", "perceived_colour_master_id", "department_no", "index_group_no",
    "section_no", "garment_group_no",
]  # fmt: skip
_CUSTOMER_NUMBERS = ["FN", "Active", "age"]


def _article_id(rows: Rows, column: str = "article_id") -> None:
    """Digits, left-padded with zeros to the competition's 10 characters."""
    rows.strip(column)
    valid = pl.col(column).str.contains(r"^\d{1,10}$")
    rows.flag(~valid, column, lambda row: f"expected an article id of at most 10 digits, got {row[column]!r}")
    rows.update(pl.when(valid).then(pl.col(column).str.zfill(10)).otherwise(pl.col(column)).alias(column))


def _attributes(rows: Rows, keep: list[str]) -> list[str]:
    """The header's other columns; empty strings become null."""
    others = [c for c in rows.header if c not in keep]
    strings = [c for c in others if rows.frame.schema[c] == pl.Utf8]
    rows.empty_to_null(*strings)
    return others


@register_source("hm")
def read_hm(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """H&M transactions (+ articles, customers) in directory ``path`` (see the module docstring)."""
    policy = check_policy(on_bad_rows)
    take_options("hm", options, {})
    root = directory(path, "H&M")
    data = require_file(root / "transactions_train.csv", "H&M transactions (transactions_train.csv)")
    bad: dict[str, int] = {}
    files = [data]

    types = {"price": pl.Float64(), "sales_channel_id": pl.Int64()}
    rows = read_table(data, policy=policy, sep=",", quoted=True, types=types)
    rows.require_columns(["t_dat", "customer_id", "article_id"])
    rows.to_date("t_dat", "%Y-%m-%d")
    rows.require("customer_id")
    _article_id(rows)
    if "price" in rows.header:
        rows.to_float("price")
    if "sales_channel_id" in rows.header:
        rows.to_int("sales_channel_id")
    frame = rows.finish(bad, what="interactions")
    interactions = frame.select(
        pl.col("customer_id").alias(Columns.UserId),
        pl.col("article_id").alias(Columns.ItemId),
        (pl.col("t_dat").cast(pl.Int64) * 86_400).alias(Columns.Timestamp),  # days -> seconds
        pl.lit(1.0, pl.Float32).alias(Columns.Weight),
    )

    items = None
    if (article_file := root / "articles.csv").exists():
        files.append(article_file)
        types = {c: pl.Int64() for c in _ARTICLE_NUMBERS}
        rows = read_table(article_file, policy=policy, sep=",", quoted=True, types=types)
        rows.require_columns(["article_id", "prod_name"])
        _article_id(rows)
        for c in _ARTICLE_NUMBERS:
            if c in rows.header:
                rows.to_int(c, required=False)
        others = _attributes(rows, ["article_id", "prod_name"])
        rows.unique("article_id", "article id")
        items = rows.finish(bad, what="articles").select(
            pl.col("article_id").alias(Columns.ItemId), pl.col("prod_name").alias(Columns.Name), *others
        )

    users = None
    if (customer_file := root / "customers.csv").exists():
        files.append(customer_file)
        rows = read_table(customer_file, policy=policy, sep=",", quoted=True)
        rows.require_columns(["customer_id"])
        rows.require("customer_id")
        for c in _CUSTOMER_NUMBERS:
            if c in rows.header:
                rows.to_float(c, required=False, dtype=pl.Float32())
        others = _attributes(rows, ["customer_id"])
        rows.unique("customer_id", "customer id")
        users = rows.finish(bad, what="customers").select(pl.col("customer_id").alias(Columns.UserId), *others)

    return RawData(interactions, items=items, users=users, source=source_meta("hm", root, files, options), bad_rows=bad)
