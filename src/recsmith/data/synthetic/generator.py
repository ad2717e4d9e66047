"""The in-memory synthetic H&M generator: :func:`generate_hm` draws the three tables at once.

The model (see :mod:`.catalogue`, :mod:`.articles`, :mod:`.customers`, :mod:`.transactions`):
styles tie article attributes and text together, customers buy from a sparse mixture of styles,
popularity is long-tailed and drifts over time with launches and seasons, and customers make
baskets and deliberate repeat purchases. The same seed and parameters give identical frames.
For data larger than memory, :func:`~recsmith.data.synthetic.chunked.write_hm_csv_chunked`
writes the same model's tables as CSV files block by block.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.synthetic.articles import draw_catalogue
from recsmith.data.synthetic.catalogue import STYLE_NAMES
from recsmith.data.synthetic.customers import customer_frame, draw_customers
from recsmith.data.synthetic.params import check_params
from recsmith.data.synthetic.schema import TRANSACTION_COLUMNS
from recsmith.data.synthetic.transactions import TransactionModel

EPOCH = _dt.date(1970, 1, 1)


@dataclass
class SyntheticHM:
    """The three H&M tables, plus the latent truth they were drawn from.

    Attributes:
        articles, customers, transactions: polars frames with the Kaggle files' columns and
            dtypes (see :data:`~recsmith.data.synthetic.schema.ARTICLE_COLUMNS`,
            :data:`~recsmith.data.synthetic.schema.CUSTOMER_COLUMNS`,
            :data:`~recsmith.data.synthetic.schema.TRANSACTION_COLUMNS`).
        latent: ground truth for tests and diagnostics, aligned with the frames' rows:
            ``article_style`` (style index per article row), ``customer_taste`` (customers x styles
            mixture), ``customer_style`` (main style per customer row), ``style_names``.
        params: the parameters used.
    """

    articles: pl.DataFrame
    customers: pl.DataFrame
    transactions: pl.DataFrame
    latent: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    params: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class Population:
    """Catalogue and customers of one parameter set: what both writers share.

    ``articles`` and ``customers`` are sorted like the Kaggle files (by id); ``article_order`` and
    ``customer_order`` are the sorting permutations of the drawn rows.
    """

    params: dict[str, Any]
    cat: dict[str, Any]
    cust: dict[str, Any]
    articles: pl.DataFrame
    customers: pl.DataFrame
    article_order: np.ndarray
    customer_order: np.ndarray
    model: TransactionModel
    tx_seed: np.random.SeedSequence


def draw_population(params: dict[str, Any]) -> Population:
    """Draw the catalogue, the customers and the purchase model for validated ``params``."""
    p = params
    start = _dt.date.fromisoformat(p["start"])
    # independent streams, so that e.g. changing n_transactions keeps the same catalogue
    ss = np.random.SeedSequence([p["seed"], 0x484D])  # "HM"
    cat_seed, cust_seed, tx_seed = ss.spawn(3)
    rng_cat, rng_cust = np.random.default_rng(cat_seed), np.random.default_rng(cust_seed)
    cat = draw_catalogue(
        rng_cat, p["n_articles"], p["days"], p["zipf_exponent"], p["new_article_share"], p["trend_strength"]
    )
    cust = draw_customers(rng_cust, p["n_customers"], p["n_transactions"], p["taste_concentration"], p["repeat_rate"])
    customers = customer_frame(rng_cust, cust, p["n_customers"])
    article_order = np.argsort(cat["article_id"], kind="stable")  # the Kaggle file is sorted by article_id
    customer_order = np.argsort(cust["customer_id"], kind="stable")
    return Population(
        params=p,
        cat=cat,
        cust=cust,
        articles=cat["frame"][article_order],
        customers=customers[customer_order],
        article_order=article_order,
        customer_order=customer_order,
        model=TransactionModel(cat, start, p["days"], p["impulse_rate"]),
        tx_seed=tx_seed,
    )


def transactions_frame(pop: Population, tx: dict[str, np.ndarray], customer_offset: int = 0) -> pl.DataFrame:
    """Drawn purchases as the Kaggle transactions table, ordered like the file: by day, then by
    customer id, each customer's rows in purchase order. ``tx["customer"]`` counts from
    ``customer_offset``."""
    customer = tx["customer"] + customer_offset
    t_day = tx["day"]
    order = np.lexsort((np.arange(t_day.size), pop.cust["id_rank"][customer], t_day))
    start_days = (_dt.date.fromisoformat(pop.params["start"]) - EPOCH).days
    return pl.DataFrame(
        {
            "t_dat": pl.Series((t_day[order] + start_days).astype(np.int32)).cast(pl.Date).dt.to_string("%Y-%m-%d"),
            "customer_id": pl.Series(pop.cust["customer_id"], dtype=pl.Utf8).gather(customer[order]),
            "article_id": pl.Series(pop.cat["article_id"], dtype=pl.Utf8).gather(tx["item"][order]),
            "price": tx["price"][order],
            "sales_channel_id": tx["channel"][order].astype(np.int64),
        },
        schema=TRANSACTION_COLUMNS,
    )


def generate_hm(
    n_customers: int = 4000,
    n_articles: int = 1500,
    n_transactions: int = 80_000,
    start: str | _dt.date = "2020-01-01",
    days: int = 182,
    seed: int = 0,
    *,
    taste_concentration: float = 1.0,
    zipf_exponent: float = 1.0,
    impulse_rate: float = 0.1,
    repeat_rate: float = 0.08,
    new_article_share: float = 0.3,
    trend_strength: float = 0.8,
) -> SyntheticHM:
    """Draw a synthetic H&M-like data set in memory.

    Args:
        n_customers: number of customers (rows of ``customers``).
        n_articles: number of articles (rows of ``articles``).
        n_transactions: number of purchase rows. When it is at least ``n_customers`` every
            customer buys at least once; otherwise some customers never buy (as in the real data).
        start: first day of the period (``"YYYY-MM-DD"`` or a date).
        days: length of the period in days; ``t_dat`` lies in ``[start, start + days)``.
        seed: random seed; the same seed and parameters give identical frames.
        taste_concentration: total Dirichlet concentration of customers' style mixtures; small
            values give customers who stick to one or two styles (more personal structure).
        zipf_exponent: exponent of the Zipf-like product popularity within a style.
        impulse_rate: share of purchases whose style is drawn from the global style shares instead
            of the customer's taste.
        repeat_rate: mean share of a customer's purchases that re-buy an earlier item.
        new_article_share: share of products launched during the period (not available before).
        trend_strength: standard deviation of each article's log-popularity change over the period.

    Raises:
        SyntheticParamError: (a :class:`~recsmith.errors.ConfigError` and a ``ValueError``) for an
            invalid parameter.
    """
    params = check_params(
        n_customers=n_customers, n_articles=n_articles, n_transactions=n_transactions, start=start, days=days,
        seed=seed, taste_concentration=taste_concentration, zipf_exponent=zipf_exponent,
        impulse_rate=impulse_rate, repeat_rate=repeat_rate, new_article_share=new_article_share,
        trend_strength=trend_strength,
    )  # fmt: skip
    pop = draw_population(params)
    tx = pop.model.draw(np.random.default_rng(pop.tx_seed), pop.cust)
    latent = {
        "style_names": STYLE_NAMES,
        "article_style": pop.cat["style"][pop.article_order],
        "customer_taste": pop.cust["taste"][pop.customer_order],
        "customer_style": pop.cust["main_style"][pop.customer_order],
    }
    return SyntheticHM(
        articles=pop.articles,
        customers=pop.customers,
        transactions=transactions_frame(pop, tx),
        latent=latent,
        params=params,
    )
