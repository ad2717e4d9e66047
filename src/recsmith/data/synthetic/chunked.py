"""Full-scale synthetic H&M files, written block by block with bounded memory.

:func:`write_hm_csv_chunked` writes the three Kaggle CSV files for any size (the full H&M scale
is 1,371,980 customers, 105,542 articles and 31,788,324 transactions) without holding the
transactions table in memory:

1. the catalogue and the customers are drawn at once (their tables are small) and written;
2. the purchases are drawn customer block by customer block (about ``block_transactions`` rows
   each, every block with its own random stream spawned from the seed) into temporary Parquet
   parts with integer codes, each sorted by day;
3. the file is assembled window of days by window of days (about ``window_transactions`` rows each;
   the parts' row-group statistics let each window read only its days), ordered like the Kaggle
   file: by day, then by customer id, each customer's rows in purchase order.

Memory is bounded by the population tables plus one block or one window. The output is
deterministic for a seed and the sizes; with a single block it is byte-identical to
``write_hm_csv(generate_hm(...))``. The directory is written atomically.
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.synthetic.files import write_table
from recsmith.data.synthetic.generator import draw_population, transactions_frame
from recsmith.data.synthetic.params import check_params
from recsmith.data.synthetic.schema import HM_FILES, TRANSACTION_COLUMNS
from recsmith.utils.atomic import atomic_dir
from recsmith.utils.progress import track

# the full H&M data set (Kaggle, 2018-09-20 .. 2020-09-22)
FULL_SCALE: dict[str, Any] = {
    "n_customers": 1_371_980,
    "n_articles": 105_542,
    "n_transactions": 31_788_324,
    "start": "2018-09-20",
    "days": 734,
}
_PARTS = ".parts"


def write_hm_csv_chunked(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    block_transactions: int = 2_000_000,
    window_transactions: int = 4_000_000,
    **params: Any,
) -> dict[str, Path]:
    """Write ``articles.csv``, ``customers.csv`` and ``transactions_train.csv`` to ``out_dir``.

    Args:
        out_dir: directory to create (atomically; an existing one needs ``overwrite``).
        block_transactions: purchases drawn per block of customers (memory per block: roughly
            0.5 kB per purchase).
        window_transactions: purchases per window of days when assembling the file.
        **params: the generator's parameters (see :func:`~recsmith.data.synthetic.generate_hm`);
            sizes and period default to :data:`FULL_SCALE`.

    Returns:
        The paths by table name (``"articles"``, ``"customers"``, ``"transactions"``).
    """
    p = check_params(**{**FULL_SCALE, **params})
    pop = draw_population(p)
    out = Path(out_dir)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        write_table(pop.articles, "articles", tmp / HM_FILES["articles"])
        write_table(pop.customers, "customers", tmp / HM_FILES["customers"])
        parts = tmp / _PARTS
        parts.mkdir()
        _draw_parts(pop, parts, block_transactions)
        _assemble(pop, parts, tmp / HM_FILES["transactions"], window_transactions)
        shutil.rmtree(parts)
    return {table: out / name for table, name in HM_FILES.items()}


def customer_blocks(counts: np.ndarray, block_transactions: int) -> list[tuple[int, int]]:
    """Contiguous customer ranges ``[c0, c1)`` of about ``block_transactions`` purchases each."""
    cum = np.cumsum(counts)
    n_blocks = max(1, math.ceil(int(cum[-1]) / block_transactions))
    cuts = np.searchsorted(cum, np.arange(1, n_blocks) * block_transactions, side="left") + 1
    bounds = np.unique(np.concatenate([[0], cuts, [counts.size]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def _draw_parts(pop: Any, parts: Path, block_transactions: int) -> None:
    cust = pop.cust
    blocks = customer_blocks(cust["counts"], block_transactions)
    # one block: the generator's own stream (so the files equal generate_hm's); else one per block
    seeds = [pop.tx_seed] if len(blocks) == 1 else pop.tx_seed.spawn(len(blocks))
    for b, ((c0, c1), seed) in enumerate(track(list(zip(blocks, seeds)), "drawing purchases")):
        block = {k: cust[k][c0:c1] for k in ("taste", "counts", "repeat", "joined")}
        tx = pop.model.draw(np.random.default_rng(seed), block)
        customer = tx["customer"] + c0
        frame = pl.DataFrame(
            {
                "day": tx["day"].astype(np.int32),
                "rank": cust["id_rank"][customer].astype(np.int32),
                "seq": np.arange(customer.size, dtype=np.int32),  # purchase order within the block
                "customer": customer.astype(np.int32),
                "item": tx["item"].astype(np.int32),
                "price": tx["price"],
                "channel": tx["channel"].astype(np.int8),
            }
        ).sort("day", "rank", "seq")
        frame.write_parquet(parts / f"part-{b:05d}.parquet", row_group_size=65_536, compression="lz4")


def _assemble(pop: Any, parts: Path, path: Path, window_transactions: int) -> None:
    p = pop.params
    days = p["days"]
    window = max(1, int(window_transactions * days / p["n_transactions"]))
    scan = pl.scan_parquet(parts / "*.parquet")
    with path.open("wb") as f:
        f.write((",".join(TRANSACTION_COLUMNS) + "\n").encode())
        for d0 in track(range(0, days, window), "writing transactions", total=math.ceil(days / window)):
            rows = scan.filter((pl.col("day") >= d0) & (pl.col("day") < d0 + window)).collect()
            if rows.height == 0:
                continue
            rows = rows.sort("day", "rank", "seq")
            tx = {
                "customer": rows["customer"].to_numpy(),
                "day": rows["day"].to_numpy(),
                "item": rows["item"].to_numpy(),
                "price": rows["price"].to_numpy(),
                "channel": rows["channel"].to_numpy(),
            }
            write_table(transactions_frame(pop, tx), "transactions", f, header=False)
