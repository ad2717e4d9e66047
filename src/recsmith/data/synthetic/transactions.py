"""Drawing the synthetic purchases of a block of customers.

* **Tastes.** Each purchase first picks a style from the customer's mixture (sticky within a
  shopping day, with some random "impulse" purchases drawn from the global style shares), then an
  article of that style.
* **Trends.** An article's weight in a week is its base popularity times its log-linear drift, times
  a decaying boost after launch (zero before launch); styles are seasonal (swimwear peaks in
  summer, knitwear in winter).
* **Repeats and baskets.** Customers re-buy some earlier items (a per-customer rate), buy several
  items on one day and sometimes a second colour of the same product. Other than that, chance draws
  of an article the customer already bought are redrawn, so repeats are a deliberate signal.

:class:`TransactionModel` holds the tables that do not depend on the customers (seasonality,
weekly popularity CDFs per style); :meth:`TransactionModel.draw` draws the purchases of any block
of customers, so the chunked writer can draw customer block by customer block with bounded memory.
Everything is vectorised numpy over purchases.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from recsmith.data.synthetic.catalogue import STYLES, young_style_indices


class TransactionModel:
    """The customer-independent part of the purchase model for one catalogue and period.

    Args:
        cat: the catalogue drawn by :func:`~recsmith.data.synthetic.articles.draw_catalogue`.
        start, days: the period.
        impulse_rate: share of purchases whose style ignores the customer's taste.
    """

    def __init__(self, cat: dict[str, Any], start: _dt.date, days: int, impulse_rate: float) -> None:
        self.cat = cat
        self.days = days
        self.impulse_rate = impulse_rate
        n_styles = len(STYLES)
        doy = np.array([(start + _dt.timedelta(days=int(d))).timetuple().tm_yday for d in range(days)])
        peak = np.array([s.season_peak for s in STYLES])
        amp = np.array([s.season_amp for s in STYLES])
        self.season = np.exp(amp[None, :] * np.cos(2 * np.pi * (doy[:, None] - peak[None, :]) / 365.25))  # days x S
        share = np.array([s.share for s in STYLES])
        self.share = share / share.sum()

        # article weights per week: popularity at that time
        n_weeks = (days + 6) // 7
        t_mid = np.minimum(np.arange(n_weeks) * 7 + 3.5, days - 0.5)  # week midpoints
        age = t_mid[:, None] - cat["launch"][None, :]  # weeks x items
        live = age >= 0
        log_w = np.log(cat["base"])[None, :] + cat["drift"][None, :] * (t_mid[:, None] / days - 0.5)
        boost = 1.0 + 2.0 * np.exp(-np.maximum(age, 0.0) / 21.0) * (cat["launch"] >= 0)[None, :]
        w_time = np.where(live, np.exp(log_w) * boost, 0.0)  # weeks x items
        # per style: (weeks x the style's articles) offset CDFs; a week in which a style has no live
        # article falls back to all live articles (the global table)
        self.styles_cdf: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        for s in range(n_styles):
            members = np.flatnonzero(cat["style"] == s)
            table = w_time[:, members]
            empty = table.sum(axis=1) <= 0
            table[empty] = 1.0  # placeholder rows, never drawn from
            self.styles_cdf.append((members, empty, _row_cdf(table) if members.size else None))
        live_week = w_time.sum(axis=1) > 0
        self.global_cdf = _row_cdf(np.where(live_week[:, None], w_time, 1.0))

    def draw(self, rng: np.random.Generator, cust: dict[str, Any]) -> dict[str, np.ndarray]:
        """Purchases of the customers in ``cust`` (arrays ``taste``, ``counts``, ``repeat``, ``joined``).

        Returns arrays over purchases, grouped by customer in purchase order: ``customer`` (index
        into ``cust``), ``day`` (0-based day of the period), ``item`` (article row), ``price``,
        ``channel`` and ``style``.
        """
        cat, days = self.cat, self.days
        n_items = cat["style"].size
        counts = cust["counts"]
        customer = np.repeat(np.arange(counts.size), counts)
        n = customer.size
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])[customer]  # index of customer's first row
        is_first = np.arange(n) == first

        # --- days: uniform over the customer's active window, sorted, grouped into shopping days ----
        join_day = np.floor(cust["joined"] * days)[customer]
        day = np.floor(join_day + rng.random(n) * (days - join_day)).astype(np.int64)
        day = np.minimum(day, days - 1)
        order = np.lexsort((day, customer))
        day = day[order]  # customer is already grouped, so only days move
        same_day_as_prev = (rng.random(n) < 0.45) & ~is_first
        day = _forward_fill(day, ~same_day_as_prev)
        same_day = np.zeros(n, dtype=bool)
        same_day[1:] = (day[1:] == day[:-1]) & ~is_first[1:]

        # --- style per purchase: taste x season, impulse buys, sticky within a shopping day ---------
        probs = cust["taste"][customer] * self.season[day]
        impulse = rng.random(n) < self.impulse_rate
        probs[impulse] = self.share[None, :] * self.season[day[impulse]]
        style = _categorical(rng, probs)
        del probs
        keep_style = same_day & (rng.random(n) < 0.7)
        style = _forward_fill(style, ~keep_style)

        # --- article given (style, week) -----------------------------------------------------------
        week = day // 7

        def draw(rows: np.ndarray) -> np.ndarray:
            out = np.empty(rows.size, dtype=np.int64)
            st, wk = style[rows], week[rows]
            for s in np.unique(st):
                members, empty, cdf = self.styles_cdf[s]
                in_style = np.flatnonzero(st == s)
                fallback = empty[wk[in_style]]
                ok, fb = in_style[~fallback], in_style[fallback]
                if ok.size:
                    out[ok] = members[_categorical_rows(rng, cdf, wk[ok])]
                if fb.size:
                    out[fb] = _categorical_rows(rng, self.global_cdf, wk[fb])
            return out

        item = draw(np.arange(n))
        # a customer rarely buys the same article twice by chance: redraw accidental duplicates (the
        # deliberate repeats come below)
        for _ in range(3):
            key = customer.astype(np.int64) * n_items + item
            _, first_idx, inverse = np.unique(key, return_index=True, return_inverse=True)
            dup = np.flatnonzero(first_idx[inverse] != np.arange(n))
            if dup.size == 0:
                break
            item[dup] = draw(dup)

        # --- another colour of the product just bought (same day) -----------------------------------
        sibling = same_day & (rng.random(n) < 0.12)
        prev_item = np.roll(item, 1)
        prod = cat["product"][prev_item]
        sib = cat["first_of_product"][prod] + np.floor(rng.random(n) * cat["n_var"][prod]).astype(np.int64)
        item = np.where(sibling, sib, item)

        # --- repeat purchases: re-buy an item bought earlier ----------------------------------------
        repeat = ~is_first & (rng.random(n) < cust["repeat"][customer])
        pos = np.arange(n)
        src = first + np.floor(rng.random(n) * (pos - first)).astype(np.int64)
        src = np.where(repeat, src, pos)
        while True:  # resolve chains (a repeat of a repeat): src < pos, so this ends, in a few steps
            nxt = item[src]
            if np.array_equal(nxt, item):
                break
            item = nxt

        # --- price and channel ------------------------------------------------------------------------
        discount = np.where(rng.random(n) < 0.15, rng.choice([0.5, 0.6, 0.7, 0.8], size=n), 1.0)
        price = np.round(cat["price"][item] * discount, 6)
        young_taste = cust["taste"][:, young_style_indices()].sum(axis=1)
        online = np.clip(0.55 + 0.35 * young_taste + rng.normal(0, 0.2, counts.size), 0.02, 0.98)
        channel = np.where(rng.random(n) < online[customer], 2, 1)
        return {"customer": customer, "day": day, "item": item, "price": price, "channel": channel, "style": style}


def _forward_fill(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """values[i] := values[last j <= i with keep[j]] (keep[0] must be True)."""
    idx = np.where(keep, np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return values[idx]


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of an (n, k) matrix of unnormalised probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _row_cdf(table: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of an (unnormalised, rows not all zero) table, offset so
    that row r spans (r, r + 1]: the input of :func:`_categorical_rows`."""
    cum = np.cumsum(table, axis=1)
    cum /= cum[:, -1:]
    cum += np.arange(table.shape[0])[:, None]
    return cum


def _categorical_rows(rng: np.random.Generator, cdf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per entry of ``rows`` from the distribution in row ``rows[j]`` of a table whose
    offset CDF (:func:`_row_cdf`) is ``cdf``. Zero-probability columns are never drawn."""
    k = cdf.shape[1]
    u = rng.random(rows.size) * (1.0 - 1e-9)  # r + u must stay below r + 1 after rounding
    pos = np.searchsorted(cdf.ravel(), rows + u, side="right")
    return np.clip(pos - rows * k, 0, k - 1)
