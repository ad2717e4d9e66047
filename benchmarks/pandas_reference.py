"""The H&M preparation in pandas: the reference that ``benchmarks/data_prep.py`` compares with.

The same steps and outputs as ``recsmith data prepare hm`` (read CSV -> check -> encode ids by
first appearance -> time features -> split -> encoders fitted on the training part -> per-user
sequences -> Parquet / .npy), written the way a careful pandas user would: vectorised wherever
pandas allows (no Python loop over rows; a groupby for the sequences), typed ``read_csv``, and
``category`` / Arrow-backed strings where they help. It holds the whole table in memory, which is
the point of the comparison.

Usage::

    python benchmarks/pandas_reference.py --raw data/bench/hm-1x --out /tmp/pandas-out [--fraction 0.5]

``--fraction f`` reads only the first ``f`` of the transactions (for machines where the whole
table does not fit).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

DAY = 86_400
ARTICLE_CATEGORIES = [
    "product_type_name", "product_group_name", "graphical_appearance_name", "colour_group_name",
    "perceived_colour_value_name", "perceived_colour_master_name", "department_name", "index_name",
    "index_group_name", "section_name", "garment_group_name",
]  # fmt: skip
ATTRIBUTES = ["graphical_appearance_name", "perceived_colour_master_name", "perceived_colour_value_name"]


def vocab_encode(train: pd.Series, values: pd.Series, min_count: int = 1, oov_buckets: int = 1) -> np.ndarray:
    """0 = missing, 1..V by descending training frequency, then hashed OOV buckets."""
    counts = train.dropna().astype(str).value_counts()
    counts = counts[counts >= min_count]
    order = counts.reset_index()
    order.columns = ["value", "count"]
    order = order.sort_values(["count", "value"], ascending=[False, True])
    mapping = pd.Series(np.arange(1, len(order) + 1, dtype=np.int32), index=order["value"].to_numpy())
    text = values.astype("string")
    ids = text.map(mapping)
    oov = ids.isna() & text.notna()
    if oov.any():
        hashed = pd.util.hash_pandas_object(text[oov], index=False).to_numpy() % np.uint64(oov_buckets)
        ids[oov] = 1 + len(order) + hashed.astype(np.int64)
    return ids.fillna(0).to_numpy(dtype=np.int32)


def standardize(train: pd.Series, values: pd.Series) -> np.ndarray:
    mean, std = train.mean(), train.std()
    std = std if std and np.isfinite(std) and std > 0 else 1.0
    return ((values - mean) / std).fillna(0.0).to_numpy(dtype=np.float32)


def quantile_bucket(train: pd.Series, values: pd.Series, buckets: int) -> np.ndarray:
    edges = np.unique(train.dropna().quantile(np.arange(1, buckets) / buckets, interpolation="lower").to_numpy())
    ids = np.searchsorted(edges, values.to_numpy(dtype=np.float64), side="right") + 1
    return np.where(values.isna().to_numpy(), 0, ids).astype(np.int32)


def cyclic(frame: pd.DataFrame, ts: pd.Series) -> None:
    when = pd.to_datetime(ts, unit="s")
    for name, phase in (
        ("dow", when.dt.day_of_week / 7),
        ("month", (when.dt.month - 1) / 12),
        ("season", ((when.dt.month % 12) // 3) / 4),
    ):
        frame[f"{name}_sin"] = np.sin(2 * np.pi * phase).astype(np.float32)
        frame[f"{name}_cos"] = np.cos(2 * np.pi * phase).astype(np.float32)


def prepare(raw: Path, out: Path, fraction: float = 1.0) -> dict[str, float]:
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 2)
        clock[0] = now

    articles = pd.read_csv(raw / "articles.csv", dtype={"article_id": "string"}, keep_default_na=True)
    customers = pd.read_csv(raw / "customers.csv", dtype={"customer_id": "string", "postal_code": "string"})
    nrows = None
    if fraction < 1.0:
        total = sum(1 for _ in (raw / "transactions_train.csv").open("rb")) - 1
        nrows = int(total * fraction)
    tx = pd.read_csv(
        raw / "transactions_train.csv",
        dtype={"t_dat": "string", "customer_id": "string", "article_id": "string", "price": "float32",
               "sales_channel_id": "int16"},
        nrows=nrows,
    )  # fmt: skip
    lap("read_csv")

    # checks (vectorised): a bad row is dropped and counted, like --on-bad-rows skip
    day = pd.to_datetime(tx["t_dat"], format="%Y-%m-%d", errors="coerce")
    articles["article_id"] = articles["article_id"].str.zfill(10)
    tx["article_id"] = tx["article_id"].str.strip()
    ok_article = tx["article_id"].str.fullmatch(r"\d{1,10}").fillna(False)
    tx["article_id"] = tx["article_id"].str.zfill(10)
    listed = tx["article_id"].isin(articles["article_id"])
    good = day.notna() & tx["customer_id"].notna() & ok_article & listed & (tx["price"] >= 0)
    bad_rows = int((~good).sum())
    tx = tx[good]
    tx["day"] = (day[good].to_numpy().astype("datetime64[D]").astype(np.int64)).astype(np.int32)
    tx["row"] = np.arange(len(tx), dtype=np.int64)
    lap("checks")

    # ids by first appearance in time order (ties: file order), then sort by (user, time)
    tx = tx.sort_values(["day", "row"], kind="stable")
    tx["user"] = pd.factorize(tx["customer_id"])[0].astype(np.int32)
    tx["item"] = pd.factorize(tx["article_id"])[0].astype(np.int32)
    user_ids = tx["customer_id"].drop_duplicates()
    item_ids = tx["article_id"].drop_duplicates()
    tx = tx.sort_values(["user", "day", "row"], kind="stable").reset_index(drop=True)
    tx["timestamp"] = tx["day"].astype(np.int64) * DAY
    lap("encode_ids_sort")

    # split: the last 7 days test, the 7 before validation
    end = (tx["timestamp"].max() // DAY + 1) * DAY
    test_start, valid_start = end - 7 * DAY, end - 14 * DAY
    part = np.where(tx["timestamp"] >= test_start, 2, np.where(tx["timestamp"] >= valid_start, 1, 0)).astype(np.int8)
    train = part == 0
    lap("split")

    feats = pd.DataFrame({"part": part})
    log_price = np.log1p(tx["price"].clip(lower=0).astype(np.float64))
    feats["price"] = standardize(log_price[train], log_price)
    feats["price_bucket"] = quantile_bucket(tx["price"][train], tx["price"], 20)
    feats["sales_channel"] = vocab_encode(tx["sales_channel_id"][train], tx["sales_channel_id"])
    cyclic(feats, tx["timestamp"])
    # history, from earlier timestamps only
    g = tx.groupby("user", sort=False)["timestamp"]
    first = g.transform("min")
    since_first = (tx["timestamp"] - first) / DAY
    feats["days_since_first"] = since_first.astype(np.float32)
    prev = g.shift()
    prev = prev.where(prev < tx["timestamp"])
    prev = prev.groupby([tx["user"], tx["timestamp"]], sort=False).transform("first")
    feats["days_since_prev"] = ((tx["timestamp"] - prev) / DAY).astype(np.float32)
    before = g.rank(method="min") - 1
    feats["velocity"] = (before / np.maximum(since_first, 1.0)).astype(np.float32)
    lap("interaction_features")

    # side tables
    users = customers.merge(pd.DataFrame({"customer_id": user_ids.to_numpy(), "user": np.arange(len(user_ids))}),
                            on="customer_id", how="right").sort_values("user")  # fmt: skip
    for flag in ("FN", "Active"):
        users[flag] = (users[flag].fillna(0) > 0).astype(np.int8)
    news = users["fashion_news_frequency"].str.strip()
    users["fashion_news_frequency"] = news.where(~(news.isna() | (news == "") | (news.str.upper() == "NONE")), "NONE")
    train_users = np.bincount(tx["user"][train], minlength=len(users)) > 0
    tu = users[train_users]
    uf = pd.DataFrame({"user": users["user"].to_numpy()})
    uf["fn"] = vocab_encode(tu["FN"], users["FN"])
    uf["active"] = vocab_encode(tu["Active"], users["Active"])
    uf["club_member_status"] = vocab_encode(tu["club_member_status"], users["club_member_status"])
    uf["fashion_news_frequency"] = vocab_encode(tu["fashion_news_frequency"], users["fashion_news_frequency"])
    uf["age"] = standardize(tu["age"], users["age"])
    uf["age_bucket"] = quantile_bucket(tu["age"], users["age"], 10)
    uf["postal_code"] = vocab_encode(tu["postal_code"], users["postal_code"], min_count=5, oov_buckets=1000)

    items = articles.merge(pd.DataFrame({"article_id": item_ids.to_numpy(), "item": np.arange(len(item_ids))}),
                           on="article_id", how="right").sort_values("item")  # fmt: skip
    train_items = np.bincount(tx["item"][train], minlength=len(items)) > 0
    ti = items[train_items]
    itf = pd.DataFrame({"item": items["item"].to_numpy()})
    itf["product_code"] = vocab_encode(ti["product_code"], items["product_code"], oov_buckets=100)
    for c in ARTICLE_CATEGORIES:
        itf[c] = vocab_encode(ti[c], items[c])
    long = items[["item", *ATTRIBUTES]].melt(id_vars="item").dropna(subset=["value"])
    train_long = long[long["item"].isin(ti["item"])]
    long["id"] = vocab_encode(train_long["value"], long["value"])
    long = long.sort_values(["item", "variable"], kind="stable")
    lengths = np.bincount(long["item"], minlength=len(items))
    attr_offsets = np.concatenate([[0], np.cumsum(lengths)])
    itf["name"] = items["prod_name"].to_numpy()
    itf["description"] = items["detail_desc"].to_numpy()
    parts = items[["prod_name", *ARTICLE_CATEGORIES, "detail_desc"]].astype("string")
    joined = parts.iloc[:, 0].fillna("").str.cat([parts[c] for c in parts.columns[1:]], sep=" | ", na_rep="")
    itf["text"] = joined.str.replace(r"(?: \| )+", " | ", regex=True).str.strip(" |").to_numpy()
    itf["image"] = ("images/" + items["article_id"].str[:3] + "/" + items["article_id"] + ".jpg").to_numpy()
    lap("side_tables")

    # sequences: a groupby gives each user's length; the sorted columns are the CSR values
    sizes = tx.groupby("user", sort=True).size().reindex(range(len(user_ids)), fill_value=0).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    lap("sequences")

    if out.exists():
        shutil.rmtree(out)
    (out / "features" / "sequences").mkdir(parents=True)
    tx[["user", "item", "timestamp"]].assign(weight=np.float32(1.0)).to_parquet(out / "interactions.parquet")
    feats.to_parquet(out / "features" / "interactions.parquet")
    uf.to_parquet(out / "features" / "users.parquet")
    itf.to_parquet(out / "features" / "items.parquet")
    np.save(out / "features" / "sequences" / "offsets.npy", offsets)
    np.save(out / "features" / "sequences" / "items.npy", tx["item"].to_numpy(np.int32))
    np.save(out / "features" / "sequences" / "timestamps.npy", tx["timestamp"].to_numpy(np.int64))
    np.save(out / "features" / "sequences" / "parts.npy", part)
    np.save(out / "features" / "items.attributes.offsets.npy", attr_offsets)
    np.save(out / "features" / "items.attributes.values.npy", long["id"].to_numpy(np.int32))
    lap("write")
    timings["rows"] = len(tx)
    timings["bad_rows"] = bad_rows
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fraction", type=float, default=1.0)
    args = parser.parse_args()
    start = time.perf_counter()
    timings = prepare(args.raw, args.out, args.fraction)
    timings["total"] = round(time.perf_counter() - start, 2)
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
