"""Drawing the synthetic customers: tastes, activity, repeat rates, ids and the customer table.

* **Tastes.** Each customer has a sparse Dirichlet mixture over the styles of
  :mod:`.catalogue`; purchases pick a style from it (see :mod:`.transactions`).
* **Activity.** Purchase counts are heavy-tailed (log-normal shares of all transactions).
* **Demographics.** Age follows the customer's main style; customers of the young styles are more
  often ``PRE-CREATE`` club members and buy online more; the fashion-news subscription (``FN``,
  ``Active``) grows with age and activity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from recsmith.data.synthetic.catalogue import STYLES, young_style_indices
from recsmith.data.synthetic.schema import CUSTOMER_COLUMNS


def draw_customers(
    rng: np.random.Generator,
    n_customers: int,
    n_transactions: int,
    taste_concentration: float,
    repeat_rate: float,
) -> dict[str, Any]:
    n_styles = len(STYLES)
    share = np.array([s.share for s in STYLES])
    share = share / share.sum()
    taste = rng.dirichlet(np.maximum(share * taste_concentration, 1e-3), size=n_customers)
    taste = np.where(np.isfinite(taste), taste, 0.0)
    bad = taste.sum(axis=1) <= 0
    if bad.any():  # extreme concentrations can underflow: fall back to one style
        taste[bad] = np.eye(n_styles)[rng.choice(n_styles, size=int(bad.sum()), p=share)]
    taste = taste / taste.sum(axis=1, keepdims=True)
    main_style = taste.argmax(axis=1)

    # activity: heavy-tailed purchase counts, at least one each when there are enough purchases
    activity = rng.lognormal(0.0, 1.0, n_customers)
    activity /= activity.sum()
    if n_transactions >= n_customers:
        counts = 1 + rng.multinomial(n_transactions - n_customers, activity)
    else:
        counts = rng.multinomial(n_transactions, activity)

    # repeat-purchase rate, scaled by the styles the customer buys (basics are re-bought)
    style_repeat = np.array([s.repeat for s in STYLES])
    rep = rng.beta(2.0, 8.0, n_customers) / 0.2 * repeat_rate * (taste @ style_repeat)
    rep = np.clip(rep, 0.0, 0.95)

    ids = rng.bytes(32 * n_customers).hex()
    customer_id = np.array([ids[64 * i : 64 * (i + 1)] for i in range(n_customers)], dtype=object)
    if len(set(customer_id)) != n_customers:  # pragma: no cover  (2^-256 chance)
        raise RuntimeError("customer id collision")
    id_rank = np.empty(n_customers, dtype=np.int64)
    id_rank[np.argsort(customer_id, kind="stable")] = np.arange(n_customers)

    # joining day, as a share of the period (a quarter of the customers join during it)
    joined = np.where(rng.random(n_customers) < 0.25, rng.random(n_customers), 0.0)
    return {
        "taste": taste,
        "main_style": main_style,
        "counts": counts,
        "repeat": rep,
        "customer_id": customer_id,
        "id_rank": id_rank,
        "joined": joined,
    }


def customer_frame(rng: np.random.Generator, cust: dict[str, Any], n_customers: int) -> pl.DataFrame:
    main = cust["main_style"]
    counts = cust["counts"]
    age_mean = np.array([s.age[0] for s in STYLES])[main]
    age_sd = np.array([s.age[1] for s in STYLES])[main]
    age = np.clip(np.round(rng.normal(age_mean, age_sd)), 16, 95).astype(np.float64)
    age_missing = rng.random(n_customers) < 0.01

    young_style = np.isin(main, young_style_indices())
    low_activity = counts <= 2
    p_pre = 0.03 + 0.12 * young_style + 0.10 * low_activity
    r = rng.random(n_customers)
    club = np.where(r < p_pre, "PRE-CREATE", np.where(r < p_pre + 0.004, "LEFT CLUB", "ACTIVE")).astype(object)
    club[rng.random(n_customers) < 0.004] = None

    # fashion news: more likely for older and more active customers
    logit = -1.6 + 0.035 * (age - 30.0) + 0.25 * np.log1p(counts) + 0.6 * (club == "ACTIVE")
    p_news = 1.0 / (1.0 + np.exp(-logit))
    r = rng.random(n_customers)
    news = np.where(r < p_news, "Regularly", "NONE").astype(object)
    news[(r < p_news) & (rng.random(n_customers) < 0.002)] = "Monthly"
    news[rng.random(n_customers) < 0.01] = None
    fn = np.where(np.isin(news, ["Regularly", "Monthly"]), 1.0, np.nan)
    active = np.where((fn == 1.0) & (rng.random(n_customers) < 0.97), 1.0, np.nan)

    # postal codes: a Zipf-distributed pool, regions loosely tied to the main style
    n_postal = max(8, n_customers // 6)
    pool_ids = rng.bytes(32 * n_postal).hex()
    pool = np.array([pool_ids[64 * i : 64 * (i + 1)] for i in range(n_postal)], dtype=object)
    ranks = np.floor(rng.pareto(1.2, n_customers) * 3).astype(np.int64)
    postal = pool[(ranks + main * 7) % n_postal]

    return pl.DataFrame(
        {
            "customer_id": cust["customer_id"],
            "FN": fn,
            "Active": active,
            "club_member_status": club,
            "fashion_news_frequency": news,
            "age": np.where(age_missing, np.nan, age),
            "postal_code": postal,
        },
        schema=CUSTOMER_COLUMNS,
        nan_to_null=True,
    )
