"""The chunked full-scale synthetic H&M writer and ``recsmith data synth hm``."""

from __future__ import annotations

import filecmp
import itertools
from pathlib import Path

import numpy as np
import polars as pl

from recsmith.cli.main import main
from recsmith.data.synthetic import (
    ARTICLE_COLUMNS,
    CUSTOMER_COLUMNS,
    TRANSACTION_COLUMNS,
    generate_hm,
    write_hm_csv,
    write_hm_csv_chunked,
)
from recsmith.data.synthetic.chunked import customer_blocks

SIZES = {"n_customers": 250, "n_articles": 120, "n_transactions": 4000, "start": "2020-01-01", "days": 50, "seed": 5}
FILES = ("articles.csv", "customers.csv", "transactions_train.csv")


def read_tx(path: Path) -> pl.DataFrame:
    return pl.read_csv(path / "transactions_train.csv", schema_overrides={"article_id": pl.Utf8})


def test_one_block_equals_the_in_memory_generator(tmp_path: Path) -> None:
    write_hm_csv(generate_hm(**SIZES), tmp_path / "a")
    write_hm_csv_chunked(tmp_path / "b", **SIZES)
    for name in FILES:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name


def test_blocks_are_deterministic_and_the_file_is_ordered_like_kaggle(tmp_path: Path) -> None:
    write_hm_csv_chunked(tmp_path / "a", block_transactions=900, window_transactions=700, **SIZES)
    write_hm_csv_chunked(tmp_path / "b", block_transactions=900, window_transactions=3000, **SIZES)
    assert filecmp.cmp(tmp_path / "a" / FILES[2], tmp_path / "b" / FILES[2], shallow=False)
    tx = read_tx(tmp_path / "a")
    assert tx.height == SIZES["n_transactions"] and tx.columns == list(TRANSACTION_COLUMNS)
    assert tx["t_dat"].is_sorted()
    # within a day, by customer id; a customer's rows stay together
    per_day = (
        tx.with_row_index()
        .group_by("t_dat", "customer_id")
        .agg(pl.col("index").max() - pl.col("index").min() + 1, pl.len())
    )
    assert (per_day["index"] == per_day["len"]).all()
    assert tx["customer_id"].n_unique() == SIZES["n_customers"]
    articles = pl.read_csv(tmp_path / "a" / "articles.csv", schema_overrides={"article_id": pl.Utf8})
    customers = pl.read_csv(tmp_path / "a" / "customers.csv")
    assert articles.columns == list(ARTICLE_COLUMNS) and customers.columns == list(CUSTOMER_COLUMNS)
    assert tx["article_id"].is_in(articles["article_id"].implode()).all()
    other_seed = tmp_path / "c"
    write_hm_csv_chunked(other_seed, block_transactions=900, **{**SIZES, "seed": 6})
    assert not filecmp.cmp(tmp_path / "a" / FILES[2], other_seed / FILES[2], shallow=False)


def test_customer_blocks_cover_everyone_once() -> None:
    counts = np.random.default_rng(0).integers(1, 50, 1000)
    blocks = customer_blocks(counts, 2000)
    assert blocks[0][0] == 0 and blocks[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
    assert max(counts[a:b].sum() for a, b in blocks) < 2000 + 50


def test_cli_synth_with_scale(tmp_path: Path, capsys) -> None:
    out = tmp_path / "hm"
    args = ["data", "synth", "hm", "--customers", "100", "--articles", "60", "--transactions", "700",
            "--scale", "2", "--days", "30", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "transactions_train.csv" in capsys.readouterr().out
    assert read_tx(out).height == 1400
    assert main(args) != 0  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
