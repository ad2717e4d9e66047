"""Time features of interactions, computed without looking past each row's own timestamp.

Cyclic (row-wise, from the UTC timestamp): ``<name>_sin`` / ``<name>_cos`` of

- ``hour``: the time of day (seconds since midnight / 86400, so minutes count too);
- ``dow``: the day of week (Monday = 0 .. Sunday = 6, over 7);
- ``month``: the month (January = 0 .. December = 11, over 12);
- ``season``: the meteorological season (December-February = 0, March-May = 1, June-August = 2,
  September-November = 3, over 4).

History (per user, from the user's interactions at earlier timestamps only; rows with equal
timestamps get equal values, whatever their order):

- ``days_since_first``: days since the user's first interaction;
- ``days_since_prev``: days since the user's latest interaction at an *earlier* timestamp (null
  for the first timestamp);
- ``velocity``: the user's interactions at earlier timestamps per day since the first interaction
  (counted as at least one day).

The history needs rows sorted by (user, timestamp) that include all of each user's earlier rows:
the feature pass feeds whole users per batch (:func:`whole_user_batches`). ``days_since_prev`` is
NaN (null in Parquet) where there is no earlier timestamp.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

DAY = 86_400
_TAU = 2 * math.pi


def cyclic_features(ts: pl.Expr, names: Iterable[str]) -> list[pl.Expr]:
    """``<name>_sin`` and ``<name>_cos`` (Float32) of unix seconds ``ts`` for each name."""
    day = ts.floordiv(DAY)
    date = day.cast(pl.Int32).cast(pl.Date)
    phase = {
        "hour": (ts - day * DAY).cast(pl.Float64) / DAY,
        "dow": ((day + 3) % 7).cast(pl.Float64) / 7,  # 1970-01-01 was a Thursday (Monday = 0)
        "month": (date.dt.month().cast(pl.Float64) - 1) / 12,
        "season": ((date.dt.month().cast(pl.Int32) % 12) // 3).cast(pl.Float64) / 4,
    }
    out = []
    for name in names:
        angle = phase[name] * _TAU
        out += [angle.sin().cast(pl.Float32).alias(f"{name}_sin"), angle.cos().cast(pl.Float32).alias(f"{name}_cos")]
    return out


def cyclic_frame(ts: pl.Series, names: Iterable[str]) -> pl.DataFrame:
    """:func:`cyclic_features` of a Series of unix seconds. The day-of-week, month and season parts
    are computed once per day of the batch's range and gathered (many rows share a day); the time
    of day per row."""
    names = list(names)
    t = ts.to_numpy()
    if not names or t.size == 0:
        return pl.DataFrame([pl.Series(c, [], dtype=pl.Float32) for c in cyclic_columns(names)])
    day = np.floor_divide(t, DAY)
    first, span = int(day.min()), int(day.max() - day.min()) + 1
    columns: dict[str, np.ndarray] = {}
    by_day = [n for n in names if n != "hour"]
    if by_day and span <= 4 * t.size:
        days = pl.DataFrame({"ts": np.arange(first, first + span, dtype=np.int64) * DAY})
        table = days.select(cyclic_features(pl.col("ts"), by_day))
        pos = day - first
        for c in table.columns:
            columns[c] = table[c].to_numpy()[pos]
    elif by_day:
        table = ts.to_frame("ts").select(cyclic_features(pl.col("ts"), by_day))
        columns.update({c: table[c].to_numpy() for c in table.columns})
    if "hour" in names:
        angle = (t - day * DAY).astype(np.float64) / DAY * _TAU
        columns["hour_sin"], columns["hour_cos"] = np.sin(angle).astype(np.float32), np.cos(angle).astype(np.float32)
    return pl.DataFrame({c: columns[c] for c in cyclic_columns(names)})


def cyclic_columns(names: Iterable[str]) -> list[str]:
    return [f"{n}_{f}" for n in names for f in ("sin", "cos")]


def history_features(user: np.ndarray, ts: np.ndarray, names: Iterable[str]) -> dict[str, np.ndarray]:
    """History features (float32 arrays, NaN for a missing ``days_since_prev``) of rows sorted by
    (``user``, ``ts``), each user's earlier rows included; see the module docstring.

    Vectorised over rows: run starts of users and of (user, timestamp) ties, carried forward
    with ``maximum.accumulate``.
    """
    n = len(ts)
    idx = np.arange(n)
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = user[1:] != user[:-1]
    new_time = new_user.copy()
    new_time[1:] |= ts[1:] != ts[:-1]
    user_start = np.maximum.accumulate(np.where(new_user, idx, 0))  # the user's first row
    time_start = np.maximum.accumulate(np.where(new_time, idx, 0))  # first row of the tie group
    since_first = (ts - ts[user_start]).astype(np.float64) / DAY
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "days_since_first":
            out[name] = since_first.astype(np.float32)
        elif name == "days_since_prev":
            # the row before a tie group belongs to the same user unless the group starts the user
            prev_row = time_start - 1
            has_prev = ~new_user[time_start]
            gap = (ts - ts[np.maximum(prev_row, 0)]).astype(np.float64) / DAY
            out[name] = np.where(has_prev, gap, np.nan).astype(np.float32)
        elif name == "velocity":
            before = (time_start - user_start).astype(np.float64)  # rows at earlier timestamps
            out[name] = (before / np.maximum(since_first, 1.0)).astype(np.float32)
        else:
            raise ValueError(f"unknown history feature {name!r}")
    return out


def whole_user_batches(batches: Iterable[pl.DataFrame], user: str) -> Iterator[pl.DataFrame]:
    """Re-cut frames sorted by ``user`` so that no user is split between two of them.

    The rows of the last user of each frame are held back and put in front of the next one.
    """
    carry: pl.DataFrame | None = None
    for batch in batches:
        if carry is not None and carry.height:
            batch = pl.concat([carry, batch], how="vertical_relaxed")
        if batch.height == 0:
            continue
        last = batch[user][-1]
        cut = batch.height - int((batch[user] == last).sum())  # the rows of `last` are at the end
        if cut > 0:
            yield batch.slice(0, cut)
        carry = batch.slice(cut)
    if carry is not None and carry.height:
        yield carry
