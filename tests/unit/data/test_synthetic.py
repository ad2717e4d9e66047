"""The synthetic H&M generator: determinism, schema, learnable structure, RawData and CSV files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsmith.data.schema import RAW_SCHEMA, Columns
from recsmith.data.sources.base import RawData, get_source
from recsmith.data.sources.synthetic import (
    ARTICLE_COLUMNS,
    CUSTOMER_COLUMNS,
    STYLE_NAMES,
    TRANSACTION_COLUMNS,
    SyntheticHM,
    generate_hm,
    read_synthetic,
    to_raw_data,
    write_hm_csv,
)
from recsmith.errors import ConfigError

SMALL = {"n_customers": 300, "n_articles": 200, "n_transactions": 5000, "days": 60}
HM_SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "hm-sample"


@pytest.fixture(scope="module")
def small() -> SyntheticHM:
    return generate_hm(**SMALL, seed=7)


@pytest.fixture(scope="module")
def default() -> SyntheticHM:
    return generate_hm()


# ---- determinism and sizes ------------------------------------------------------------------


def test_same_seed_gives_identical_frames(small: SyntheticHM) -> None:
    again = generate_hm(**SMALL, seed=7)
    for table in ("articles", "customers", "transactions"):
        assert getattr(again, table).equals(getattr(small, table)), table


def test_different_seeds_differ(small: SyntheticHM) -> None:
    other = generate_hm(**SMALL, seed=8)
    for table in ("articles", "customers", "transactions"):
        assert not getattr(other, table).equals(getattr(small, table)), table


@pytest.mark.parametrize(
    ("n_customers", "n_articles", "n_transactions"),
    [(1, 1, 1), (10, 3, 5), (50, 40, 1000), (400, 120, 3000)],
)
def test_sizes_follow_the_parameters(n_customers: int, n_articles: int, n_transactions: int) -> None:
    d = generate_hm(n_customers=n_customers, n_articles=n_articles, n_transactions=n_transactions, seed=1)
    assert d.customers.height == n_customers
    assert d.articles.height == n_articles
    assert d.transactions.height == n_transactions
    if n_transactions >= n_customers:  # then every customer buys at least once
        assert d.transactions["customer_id"].n_unique() == n_customers


def test_default_size_fits_the_demo(default: SyntheticHM) -> None:
    assert 3000 <= default.customers.height <= 5000
    assert 1000 <= default.articles.height <= 2000
    assert 60_000 <= default.transactions.height <= 100_000


# ---- schema ---------------------------------------------------------------------------------


def test_columns_and_dtypes(small: SyntheticHM) -> None:
    assert small.articles.schema == pl.Schema(ARTICLE_COLUMNS)
    assert small.customers.schema == pl.Schema(CUSTOMER_COLUMNS)
    assert small.transactions.schema == pl.Schema(TRANSACTION_COLUMNS)
    assert list(TRANSACTION_COLUMNS) == ["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]


@pytest.mark.realdata
def test_columns_match_the_real_hm_files() -> None:
    if not HM_SAMPLE.is_dir():
        pytest.skip(f"H&M sample not found at {HM_SAMPLE}")
    for name, columns in (
        ("articles.csv", ARTICLE_COLUMNS),
        ("customers.csv", CUSTOMER_COLUMNS),
        ("transactions_train.csv", TRANSACTION_COLUMNS),
    ):
        header = (HM_SAMPLE / name).open().readline().strip().split(",")
        header = [c for c in header if c]  # the sample's articles.csv has an extra unnamed index column
        assert header == list(columns), name


def test_id_formats(small: SyntheticHM) -> None:
    a, c = small.articles, small.customers
    assert a["article_id"].str.contains(r"^0\d{9}$").all()
    assert (a["article_id"].str.slice(0, 7).cast(pl.Int64) == a["product_code"]).all()
    assert c["customer_id"].str.contains(r"^[0-9a-f]{64}$").all()
    assert c["postal_code"].str.contains(r"^[0-9a-f]{64}$").all()
    assert a["article_id"].is_unique().all() and c["customer_id"].is_unique().all()
    # sorted like the Kaggle files
    assert a["article_id"].is_sorted() and c["customer_id"].is_sorted()


def test_transaction_values(small: SyntheticHM) -> None:
    t = small.transactions
    dates = t["t_dat"].str.to_date("%Y-%m-%d", strict=True)
    assert dates.min() >= dt.date(2020, 1, 1)
    assert dates.max() < dt.date(2020, 1, 1) + dt.timedelta(days=SMALL["days"])
    assert t["t_dat"].is_sorted()
    assert set(t["sales_channel_id"].unique().to_list()) == {1, 2}
    assert t["price"].min() > 0 and t["price"].max() < 1.0 and 0.01 < t["price"].median() < 0.1


def test_transactions_reference_existing_customers_and_articles(small: SyntheticHM) -> None:
    t = small.transactions
    assert t["customer_id"].is_in(small.customers["customer_id"].implode()).all()
    assert t["article_id"].is_in(small.articles["article_id"].implode()).all()


def test_customer_values(default: SyntheticHM) -> None:
    c = default.customers
    assert set(c["club_member_status"].drop_nulls().unique()) <= {"ACTIVE", "PRE-CREATE", "LEFT CLUB"}
    assert set(c["fashion_news_frequency"].drop_nulls().unique()) <= {"NONE", "Regularly", "Monthly"}
    assert set(c["FN"].drop_nulls().unique()) == {1.0} and set(c["Active"].drop_nulls().unique()) == {1.0}
    ages = c["age"].drop_nulls()
    assert ages.min() >= 16 and ages.max() <= 95 and 25 < ages.mean() < 45


def test_names_and_descriptions_are_readable(small: SyntheticHM) -> None:
    a = small.articles
    assert (a["prod_name"].str.split(" ").list.len() >= 2).all()
    assert a["prod_name"].str.contains(r"^[A-Z]").all()
    assert (a["detail_desc"].str.len_chars() > 30).all() and a["detail_desc"].str.ends_with(".").all()
    # colour variants of a product share its name and description, and differ in colour
    per_product = a.group_by("product_code").agg(
        pl.col("prod_name").n_unique(), pl.col("detail_desc").n_unique(), pl.len()
    )
    assert (per_product["prod_name"] == 1).all() and (per_product["detail_desc"] == 1).all()
    assert (per_product["len"] > 1).any()


# ---- learnable structure ------------------------------------------------------------------


def test_long_tail(default: SyntheticHM) -> None:
    counts = default.transactions["article_id"].value_counts()["count"].sort(descending=True).to_numpy()
    top = default.articles.height // 10
    assert counts[:top].sum() / counts.sum() > 0.35  # top 10% of articles: a large share of purchases


def test_repeat_purchases_exist(default: SyntheticHM) -> None:
    pairs = default.transactions.group_by("customer_id", "article_id").len()
    repeated = pairs.filter(pl.col("len") > 1)
    assert repeated.height > 0.02 * pairs.height
    assert repeated["customer_id"].n_unique() > 0.1 * default.customers.height
    # and re-buys on a later day, not only several pieces in one basket
    later = (
        default.transactions.group_by("customer_id", "article_id")
        .agg(pl.col("t_dat").n_unique().alias("days"))
        .filter(pl.col("days") > 1)
    )
    assert later.height > 0.01 * pairs.height


def test_popularity_trends(default: SyntheticHM) -> None:
    t = default.transactions
    mid = (dt.date(2020, 1, 1) + dt.timedelta(days=91)).isoformat()
    first = t.filter(pl.col("t_dat") < mid)["article_id"].value_counts(name="n1")
    second = t.filter(pl.col("t_dat") >= mid)["article_id"].value_counts(name="n2")
    both = first.join(second, on="article_id", how="full", coalesce=True).fill_null(0)
    s1 = both["n1"] / both["n1"].sum()
    s2 = both["n2"] / both["n2"].sum()
    busy = (both["n1"] + both["n2"]) >= 20
    ratio = (s2 + 1e-9) / (s1 + 1e-9)
    assert ((ratio > 2) & busy).sum() >= 20  # rising articles
    assert ((ratio < 0.5) & busy).sum() >= 20  # fading articles
    # new articles: never sold in the first half, sold well in the second
    assert ((both["n1"] == 0) & (both["n2"] >= 10)).sum() >= 10


def test_customers_stick_to_their_styles(default: SyntheticHM) -> None:
    style_of = dict(zip(default.articles["article_id"], default.latent["article_style"].tolist(), strict=True))
    main_of = dict(zip(default.customers["customer_id"], default.latent["customer_style"].tolist(), strict=True))
    t = default.transactions
    bought = np.array([style_of[a] for a in t["article_id"]])
    main = np.array([main_of[c] for c in t["customer_id"]])
    # with 14 styles, chance level would be about 1/14
    assert (bought == main).mean() > 0.5


def test_age_and_club_status_follow_taste(default: SyntheticHM) -> None:
    c = default.customers.with_columns(style=pl.Series([STYLE_NAMES[i] for i in default.latent["customer_style"]]))
    by_style = c.group_by("style").agg(
        pl.col("age").mean(), (pl.col("club_member_status") == "PRE-CREATE").mean().alias("pre")
    )
    age = dict(zip(by_style["style"], by_style["age"], strict=True))
    pre = dict(zip(by_style["style"], by_style["pre"], strict=True))
    assert age["divided_trend"] + 10 < age["tailoring"]
    assert pre["divided_trend"] > pre["tailoring"]


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": 0}, "n_customers"),
        ({"n_articles": -5}, "n_articles"),
        ({"n_transactions": 0}, "n_transactions"),
        ({"n_customers": 2.5}, "n_customers"),
        ({"n_customers": "100"}, "n_customers"),
        ({"n_articles": True}, "n_articles"),
        ({"days": 0}, "days"),
        ({"seed": -1}, "seed"),
        ({"start": "2020-13-01"}, "start"),
        ({"repeat_rate": 1.5}, "repeat_rate"),
        ({"taste_concentration": 0.0}, "taste_concentration"),
        ({"impulse_rate": float("nan")}, "impulse_rate"),
    ],
)
def test_invalid_parameters_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        generate_hm(**kwargs)
    assert isinstance(info.value, ConfigError)


# ---- RawData and files --------------------------------------------------------------------


def test_registered_source_returns_raw_data() -> None:
    raw = get_source("synthetic")(None, **SMALL, seed=7)
    assert isinstance(raw, RawData)
    assert raw.interactions.schema == pl.Schema(RAW_SCHEMA)
    assert raw.interactions.height == SMALL["n_transactions"]
    assert raw.source["name"] == "synthetic" and raw.source["seed"] == 7
    assert not raw.explicit


def test_raw_data_conversion(small: SyntheticHM) -> None:
    raw = to_raw_data(small)
    inter, t = raw.interactions, small.transactions
    assert inter[Columns.UserId].to_list() == t["customer_id"].to_list()
    assert inter[Columns.ItemId].to_list() == t["article_id"].to_list()
    assert (inter[Columns.Weight] == 1.0).all()
    expected_ts = [int(dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC).timestamp()) for d in t["t_dat"].head(50)]
    assert inter[Columns.Timestamp].head(50).to_list() == expected_ts
    assert raw.items is not None and raw.users is not None
    assert raw.items.columns[:2] == [Columns.ItemId, Columns.Name]
    assert {"product_type_name", "colour_group_name", "department_name", "detail_desc"} <= set(raw.items.columns)
    assert raw.items[Columns.Name].to_list() == small.articles["prod_name"].to_list()
    assert raw.users.columns[0] == Columns.UserId and "age" in raw.users.columns
    assert inter[Columns.ItemId].is_in(raw.items[Columns.ItemId].implode()).all()
    assert inter[Columns.UserId].is_in(raw.users[Columns.UserId].implode()).all()


def test_read_synthetic_matches_generate_hm(small: SyntheticHM) -> None:
    raw = read_synthetic("ignored/path", **SMALL, seed=7)
    assert raw.interactions.equals(to_raw_data(small).interactions)


def test_read_synthetic_rejects_bad_options() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        read_synthetic(n_customers=10, n_articles=5, n_transactions=20, n_userz=3)
    with pytest.raises(ConfigError, match="on_bad_rows"):
        read_synthetic(on_bad_rows="ignore")


def test_write_hm_csv_round_trip(small: SyntheticHM, tmp_path: Path) -> None:
    paths = write_hm_csv(small, tmp_path / "hm")
    assert {p.name for p in paths.values()} == {"articles.csv", "customers.csv", "transactions_train.csv"}
    for table, columns in (
        ("articles", ARTICLE_COLUMNS),
        ("customers", CUSTOMER_COLUMNS),
        ("transactions", TRANSACTION_COLUMNS),
    ):
        path = paths[table]
        assert path.open().readline().strip() == ",".join(columns)
        back = pl.read_csv(path, schema_overrides={"article_id": pl.Utf8})
        assert back.schema == pl.Schema(columns), table
        assert back.equals(getattr(small, table)), table
    # article ids keep their leading zero in the file, as in the Kaggle CSV
    second_line = paths["transactions"].open().readlines()[1]
    assert second_line.split(",")[2].startswith("0") and len(second_line.split(",")[2]) == 10
