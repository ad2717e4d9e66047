"""H&M Personalized Fashion Recommendations (Kaggle). ``path`` is the directory of the CSV files.

- ``transactions_train.csv`` (required): ``t_dat,customer_id,article_id,price,sales_channel_id``.
  One row is one purchase: ``weight`` 1.0, ``timestamp`` = ``t_dat`` (``YYYY-MM-DD``) as unix
  seconds at UTC midnight, so all purchases of a day tie (preparation keeps file order for ties).
  ``price`` (a non-negative number) and ``sales_channel_id`` are checked but dropped: the raw
  interactions table has no room for them (the H&M preparation, :mod:`recsmith.pipelines.prepare_hm`,
  keeps them as features). With the option ``check_articles`` (always on in the H&M
  preparation) a purchase of an article that ``articles.csv`` does not list is a bad row.
- ``articles.csv`` (optional) -> items: ``item_id``, ``name`` (= ``prod_name``) and every other
  article column (the numeric codes such as ``product_code``, ``*_no``, ``colour_group_code`` as
  Int64, the rest strings; empty means null), e.g. ``product_type_name``, ``colour_group_name``, ``department_name``,
  ``index_group_name``, ``detail_desc``.
- ``customers.csv`` (optional) -> users: ``user_id`` (= ``customer_id``), ``FN``, ``Active``,
  ``age`` (Float32, null when missing), ``club_member_status``, ``fashion_news_frequency``,
  ``postal_code``, as in the file (:func:`normalize_customers` normalises the missing values).
  Customers who buy need not be listed (the public sample lists few of them).

``article_id`` is always the competition's 10-character string with the leading zero(s):
``108775015`` (as pandas writes it after reading it as a number) becomes ``0108775015``, and the
dataset's lookups (``recommend --item-id``, the service) accept either spelling (``item_id_digits``). An
unnamed leading index column, as pandas writes it, is ignored in any of the files. Columns are
found by header name, so their order does not matter.

:func:`read_hm` reads everything eagerly (exact bad-row checks, quoted fields; fine up to a few
million rows). :func:`scan_transactions` is the streaming variant for files larger than memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from recsmith.data.schema import Columns
from recsmith.data.sources._stream import StreamRows, scan_table
from recsmith.data.sources._text import Rows, check_policy, directory, read_table, source_meta, take_options
from recsmith.data.sources.base import BadRowPolicy, RawData, SourceOptions, register_source, require_file

TRANSACTIONS = "transactions_train.csv"
#: the competition's article ids are 10 digits with the leading zero(s): 0108775015
ARTICLE_ID_DIGITS = 10
ARTICLES = "articles.csv"
CUSTOMERS = "customers.csv"
DATE_FORMAT = "%Y-%m-%d"

_ARTICLE_NUMBERS = [
    "product_code", "product_type_no", "graphical_appearance_no", "colour_group_code",
    "perceived_colour_value_id", "perceived_colour_master_id", "department_no", "index_group_no",
    "section_no", "garment_group_no",
]  # fmt: skip
_CUSTOMER_NUMBERS = ["FN", "Active", "age"]
_ARTICLE_ID = r"^\d{1,10}$"


def _article_id(rows: Rows, column: str = "article_id") -> None:
    """Digits, left-padded with zeros to the competition's 10 characters."""
    rows.strip(column)
    valid = pl.col(column).str.contains(_ARTICLE_ID)
    rows.flag(~valid, column, lambda row: f"expected an article id of at most 10 digits, got {row[column]!r}")
    rows.update(
        pl.when(valid).then(pl.col(column).str.zfill(ARTICLE_ID_DIGITS)).otherwise(pl.col(column)).alias(column)
    )


def _not_listed(article_id: object) -> str:
    return f"article id {article_id!r} is not in {ARTICLES}"


def _negative(price: object) -> str:
    return f"negative price {price}"


def _attributes(rows: Rows, keep: list[str]) -> list[str]:
    """The header's other columns; empty strings become null."""
    others = [c for c in rows.header if c not in keep]
    strings = [c for c in others if rows.frame.schema[c] == pl.Utf8]
    rows.empty_to_null(*strings)
    return others


def read_articles(path: Path, policy: BadRowPolicy, bad: dict[str, int]) -> pl.DataFrame:
    """``articles.csv`` -> items: ``item_id``, ``name`` and the other article columns (ids unique)."""
    types = {c: pl.Int64() for c in _ARTICLE_NUMBERS}
    rows = read_table(path, policy=policy, sep=",", quoted=True, types=types)
    rows.require_columns(["article_id", "prod_name"])
    _article_id(rows)
    for c in _ARTICLE_NUMBERS:
        if c in rows.header:
            rows.to_int(c, required=False)
    others = _attributes(rows, ["article_id", "prod_name"])
    rows.unique("article_id", "article id")
    return rows.finish(bad, what="articles").select(
        pl.col("article_id").alias(Columns.ItemId), pl.col("prod_name").alias(Columns.Name), *others
    )


def read_customers(path: Path, policy: BadRowPolicy, bad: dict[str, int]) -> pl.DataFrame:
    """``customers.csv`` -> users: ``user_id`` and the customer columns (ids unique)."""
    rows = read_table(path, policy=policy, sep=",", quoted=True)
    rows.require_columns(["customer_id"])
    rows.require("customer_id")
    for c in _CUSTOMER_NUMBERS:
        if c in rows.header:
            rows.to_float(c, required=False, dtype=pl.Float32())
    others = _attributes(rows, ["customer_id"])
    rows.unique("customer_id", "customer id")
    return rows.finish(bad, what="customers").select(pl.col("customer_id").alias(Columns.UserId), *others)


def read_transactions(
    path: Path, policy: BadRowPolicy, bad: dict[str, int], article_ids: pl.Series | None = None
) -> pl.DataFrame:
    """``transactions_train.csv``, checked: ``t_dat`` (Date), ``customer_id``, ``article_id`` (10
    characters, listed in ``article_ids`` when given), ``price`` (Float64 >= 0) and
    ``sales_channel_id`` (Int64) when present."""
    types = {"price": pl.Float64(), "sales_channel_id": pl.Int64()}
    rows = read_table(path, policy=policy, sep=",", quoted=True, types=types)
    rows.require_columns(["t_dat", "customer_id", "article_id"])
    rows.to_date("t_dat", DATE_FORMAT)
    rows.require("customer_id")
    _article_id(rows)
    if article_ids is not None:
        rows.flag(~pl.col("article_id").is_in(article_ids.implode()), "article_id",
                  lambda row: _not_listed(row["article_id"]))  # fmt: skip
    if "price" in rows.header:
        rows.to_float("price")
        rows.flag(pl.col("price") < 0, "price", lambda row: _negative(row["price"]))
    if "sales_channel_id" in rows.header:
        rows.to_int("sales_channel_id")
    return rows.finish(bad, what="interactions")


class HMOptions(SourceOptions):
    check_articles: bool = Field(
        False, description="a purchase of an article missing from articles.csv is a bad row (always on when preparing)"
    )


@register_source(
    "hm",
    summary="H&M Kaggle CSVs: a directory with transactions_train.csv (+ articles.csv, customers.csv); "
    "prepared out of core with its feature store",
    options=HMOptions,
    preparer="recsmith.pipelines.prepare_hm:prepare_hm",
    feature_preset="hm",
    item_id_digits=ARTICLE_ID_DIGITS,
)
def read_hm(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """H&M transactions (+ articles, customers) in directory ``path`` (see the module docstring).

    Options: ``check_articles`` (default False): a purchase of an article missing from
    ``articles.csv`` is a bad row.
    """
    policy = check_policy(on_bad_rows)
    opts = take_options("hm", options, HMOptions)
    root = directory(path, "H&M")
    data = require_file(root / TRANSACTIONS, f"H&M transactions ({TRANSACTIONS})")
    bad: dict[str, int] = {}
    files = [data]

    items = None
    if (article_file := root / ARTICLES).exists():
        files.append(article_file)
        items = read_articles(article_file, policy, bad)
    users = None
    if (customer_file := root / CUSTOMERS).exists():
        files.append(customer_file)
        users = read_customers(customer_file, policy, bad)

    article_ids = items[Columns.ItemId] if items is not None and opts["check_articles"] else None
    frame = read_transactions(data, policy, bad, article_ids)
    interactions = frame.select(
        pl.col("customer_id").alias(Columns.UserId),
        pl.col("article_id").alias(Columns.ItemId),
        (pl.col("t_dat").cast(pl.Int64) * 86_400).alias(Columns.Timestamp),  # days -> seconds
        pl.lit(1.0, pl.Float32).alias(Columns.Weight),
    )
    return RawData(interactions, items=items, users=users, source=source_meta("hm", root, files, options), bad_rows=bad)


def normalize_customers(users: pl.DataFrame) -> pl.DataFrame:
    """Normalise the Kaggle customers' missing values (each column only when present).

    - ``FN`` and ``Active``: 1.0 or empty in the file -> Int8 flags 1 / 0;
    - ``fashion_news_frequency``: ``NONE``, ``None`` and empty all mean no subscription -> ``"NONE"``;
      other values keep their spelling (``Regularly``, ``Monthly``);
    - ``club_member_status``: empty -> null (``ACTIVE``, ``PRE-CREATE``, ``LEFT CLUB`` kept);
    - ``age``: empty -> null (left to the numeric encoders' missing-value rule).
    """
    exprs = [
        (pl.col(flag).fill_null(0) > 0).cast(pl.Int8).alias(flag) for flag in ("FN", "Active") if flag in users.columns
    ]
    if "fashion_news_frequency" in users.columns:
        news = pl.col("fashion_news_frequency").str.strip_chars()
        none = news.is_null() | (news == "") | (news.str.to_uppercase() == "NONE")
        exprs.append(pl.when(none).then(pl.lit("NONE")).otherwise(news).alias("fashion_news_frequency"))
    if "club_member_status" in users.columns:
        status = pl.col("club_member_status").str.strip_chars()
        exprs.append(pl.when(status == "").then(None).otherwise(status).alias("club_member_status"))
    return users.with_columns(exprs) if exprs else users


def scan_transactions(path: Path, policy: BadRowPolicy, article_ids: pl.DataFrame | None = None) -> StreamRows:
    """The streaming variant of :func:`read_transactions` (see :mod:`._stream` for what it checks).

    ``article_ids`` is a lookup frame ``article_number`` (Int64, the article id as a number) ->
    ``article`` (Int32 row number): listed articles get their row number, a purchase of an
    unlisted one is a bad row. The rows keep ``t_dat`` (Date), ``customer_id`` (Utf8),
    ``article_id`` (Utf8 as in the file, stripped), ``article_number`` (Int64), ``article`` (Int32,
    null without a lookup), ``price`` (Float32) and ``sales_channel_id`` (Int16), both null without
    their column; ``__line`` numbers them.
    """
    require_file(path, f"H&M transactions ({TRANSACTIONS})")
    types = {"t_dat": pl.Date(), "price": pl.Float32(), "sales_channel_id": pl.Int16()}
    rows = scan_table(path, policy=policy, required=["t_dat", "customer_id", "article_id"], types=types)
    rows.undecodable("customer_id")
    rows.to_date("t_dat", DATE_FORMAT)
    rows.require("customer_id")
    rows.flag(pl.col("customer_id").str.contains('"', literal=True), "customer_id",
              lambda v: f"quoted fields are not supported when streaming, got {v!r}")  # fmt: skip
    rows.strip("article_id")  # noqa: B005 -- our row checker's strip(column), not str.strip
    valid = pl.col("article_id").str.contains(_ARTICLE_ID)
    rows.flag(~valid, "article_id", lambda v: f"expected an article id of at most 10 digits, got {v!r}")
    rows.update(pl.col("article_id").cast(pl.Int64, strict=False).alias("article_number"))
    if article_ids is not None:
        rows.join(article_ids, on="article_number")
        rows.flag(
            valid & pl.col("article").is_null(), "article_id", lambda v: _not_listed(str(v).zfill(ARTICLE_ID_DIGITS))
        )
    else:
        rows.update(pl.lit(None, pl.Int32).alias("article"))
    if "price" in rows.header:
        rows.to_float("price", dtype=pl.Float32())
        rows.flag(pl.col("price") < 0, "price", _negative)
    else:
        rows.update(pl.lit(None, pl.Float32).alias("price"))
    if "sales_channel_id" in rows.header:
        rows.to_int("sales_channel_id", dtype=pl.Int16())
    else:
        rows.update(pl.lit(None, pl.Int16).alias("sales_channel_id"))
    return rows
