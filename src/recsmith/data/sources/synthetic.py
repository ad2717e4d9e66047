"""The ``"synthetic"`` source: H&M-like data drawn in memory (see :mod:`recsmith.data.synthetic`).

:func:`read_synthetic` generates the three tables with
:func:`~recsmith.data.synthetic.generate_hm` and converts them to
:class:`~recsmith.data.sources.base.RawData` (:func:`to_raw_data`). The generator's names are
re-exported here for convenience.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from recsmith.data.schema import Columns
from recsmith.data.sources.base import RawData, SourceOptions, register_source
from recsmith.data.sources.hm import ARTICLE_ID_DIGITS
from recsmith.data.synthetic import (
    ARTICLE_COLUMNS,
    CUSTOMER_COLUMNS,
    HM_FILES,
    STYLE_NAMES,
    TRANSACTION_COLUMNS,
    SyntheticHM,
    SyntheticParamError,
    generate_hm,
    write_hm_csv,
)
from recsmith.data.synthetic.params import DEFAULTS
from recsmith.errors import ConfigError

__all__ = [
    "ARTICLE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "HM_FILES",
    "STYLE_NAMES",
    "TRANSACTION_COLUMNS",
    "SyntheticHM",
    "SyntheticParamError",
    "generate_hm",
    "read_synthetic",
    "to_raw_data",
    "write_hm_csv",
]


def to_raw_data(data: SyntheticHM, source: dict[str, Any] | None = None) -> RawData:
    """The canonical :class:`RawData` of a synthetic (or any H&M-schema) data set.

    Interactions: ``user_id`` = customer_id, ``item_id`` = article_id, ``timestamp`` = t_dat as
    unix seconds (midnight UTC), ``weight`` = 1.0, in the transactions' row order. Items: ``item_id``,
    ``name`` (= prod_name) and the other article columns. Users: ``user_id`` and the customer columns.
    """
    tx = data.transactions
    interactions = tx.select(
        pl.col("customer_id").alias(Columns.UserId),
        pl.col("article_id").alias(Columns.ItemId),
        (pl.col("t_dat").str.to_date("%Y-%m-%d").cast(pl.Int64) * 86_400).alias(Columns.Timestamp),
        pl.lit(1.0, dtype=pl.Float32).alias(Columns.Weight),
    )
    items = data.articles.rename({"article_id": Columns.ItemId, "prod_name": Columns.Name})
    rest = [c for c in items.columns if c not in (Columns.ItemId, Columns.Name)]
    items = items.select([Columns.ItemId, Columns.Name, *rest])
    users = data.customers.rename({"customer_id": Columns.UserId})
    return RawData(interactions=interactions, items=items, users=users, source=dict(source or {}), explicit=False)


class SyntheticOptions(SourceOptions):
    """The generator's parameters (defaults: :data:`~recsmith.data.synthetic.params.DEFAULTS`, ranges
    checked by :func:`~recsmith.data.synthetic.params.check_params`)."""

    n_customers: int = Field(DEFAULTS["n_customers"], description="number of customers")
    n_articles: int = Field(DEFAULTS["n_articles"], description="number of articles")
    n_transactions: int = Field(DEFAULTS["n_transactions"], description="number of purchase rows")
    start: str = Field(DEFAULTS["start"], description="first day of the period (YYYY-MM-DD)")
    days: int = Field(DEFAULTS["days"], description="length of the period in days")
    seed: int = Field(DEFAULTS["seed"], description="random seed: the same seed and options give the same data")
    taste_concentration: float = Field(
        DEFAULTS["taste_concentration"], description="Dirichlet concentration of tastes; small: one or two styles"
    )
    zipf_exponent: float = Field(DEFAULTS["zipf_exponent"], description="Zipf exponent of popularity within a style")
    impulse_rate: float = Field(DEFAULTS["impulse_rate"], description="share of purchases off the customer's taste")
    repeat_rate: float = Field(DEFAULTS["repeat_rate"], description="mean share of purchases re-buying an earlier item")
    new_article_share: float = Field(
        DEFAULTS["new_article_share"], description="share of products launched during the period"
    )
    trend_strength: float = Field(
        DEFAULTS["trend_strength"], description="std of each article's log-popularity change over the period"
    )


@register_source(
    "synthetic",
    summary="H&M-like data generated in memory (no --path; no files, no network)",
    options=SyntheticOptions,
    item_id_digits=ARTICLE_ID_DIGITS,  # the generator writes H&M's zero-padded article ids
)
def read_synthetic(
    path: str | Path | None = None,
    *,
    on_bad_rows: str = "error",
    n_customers: int = 4000,
    n_articles: int = 1500,
    n_transactions: int = 80_000,
    start: str = "2020-01-01",
    days: int = 182,
    seed: int = 0,
    **generator_options: Any,
) -> RawData:
    """Generate an H&M-like data set (see :func:`generate_hm`) and return it as :class:`RawData`.

    ``path`` is ignored (nothing is read); ``on_bad_rows`` is accepted for a uniform source
    signature (generated rows are always well formed). Other keyword options go to
    :func:`generate_hm` (``taste_concentration``, ``zipf_exponent``, ``impulse_rate``,
    ``repeat_rate``, ``new_article_share``, ``trend_strength``).
    """
    if on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
    unknown = sorted(set(generator_options) - set(SyntheticOptions.model_fields))
    if unknown:
        raise SyntheticParamError(
            f"synthetic data: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))}"
        )
    data = generate_hm(
        n_customers=n_customers,
        n_articles=n_articles,
        n_transactions=n_transactions,
        start=start,
        days=days,
        seed=seed,
        **generator_options,
    )
    source = {"name": "synthetic", "generator": "hm", **data.params}
    return to_raw_data(data, source=source)
