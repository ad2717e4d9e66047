"""Writing synthetic H&M tables as the Kaggle CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import polars as pl

from recsmith.data.synthetic.generator import SyntheticHM
from recsmith.data.synthetic.schema import ARTICLE_COLUMNS, CUSTOMER_COLUMNS, HM_FILES, TRANSACTION_COLUMNS

TABLE_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "articles": ARTICLE_COLUMNS,
    "customers": CUSTOMER_COLUMNS,
    "transactions": TRANSACTION_COLUMNS,
}


def write_table(frame: pl.DataFrame, table: str, out: Path | IO[bytes], *, header: bool = True) -> None:
    """One table in the Kaggle style: the file's column order, missing values as empty fields and
    ``article_id`` as the 10-character string (it is one already)."""
    frame.select(list(TABLE_COLUMNS[table])).write_csv(out, null_value="", include_header=header)


def write_hm_csv(data: SyntheticHM, out_dir: str | Path) -> dict[str, Path]:
    """Write ``articles.csv``, ``customers.csv`` and ``transactions_train.csv`` like the Kaggle files.

    ``article_id`` keeps its leading zero; missing values are empty fields. Returns the paths by
    table name (``"articles"``, ``"customers"``, ``"transactions"``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for table in TABLE_COLUMNS:
        path = out / HM_FILES[table]
        write_table(getattr(data, table), table, path)
        paths[table] = path
    return paths
