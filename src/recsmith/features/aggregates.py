"""Point-in-time aggregates of an interaction history: the user, item and user x item features of
a ranker, computed only from the rows before a cutoff.

::

    tables = HistoryTables.compute(history, FEATURES_OF_A_RUN, AggregateParams(), cutoff=T)
    frame = tables.join(candidates)      # candidates: user, item (+ anything) -> + one column per feature

``history`` is a Polars ``LazyFrame`` with ``user``, ``item``, ``timestamp``, ``weight`` and, for
the price features, ``price`` (e.g. ``pl.scan_parquet`` of a prepared dataset joined with its
feature store, :func:`attach_interaction_columns`). Every aggregate is a lazy group-by collected
with Polars' streaming engine, so the history never has to fit in memory; only the result tables
(one row per user, per item, per distinct (user, item) pair) are held.

**The cutoff.** Rows with ``timestamp >= cutoff`` are dropped before anything is computed, and
"now" (the reference of every "days since" and "recent" feature) is ``cutoff``, or one second after
the last timestamp without one. So the features of an example whose label lies at or after ``T``
cannot depend on anything at or after ``T`` (tests/unit/features/test_aggregates.py changes the rows
after T and checks that nothing moves).

The catalogue (:data:`FEATURES`, name -> table, what it needs, meaning). ``time`` features only
make sense where timestamps are times (on position-only data such as Amazon Beauty they count
positions); ``price`` features need a ``price`` column; ``group`` features are computed for each
item column in ``AggregateParams.groups`` and are named ``<feature>:<column>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from recsmith.data.schema import Columns
from recsmith.errors import ConfigError

DAY = 86_400
_LN2 = float(np.log(2.0))
U, I, T = Columns.User, Columns.Item, Columns.Timestamp  # noqa: E741 (column names, used everywhere below)
PRICE = "price"
Table = Literal["user", "item", "pair", "group"]


@dataclass(frozen=True)
class FeatureDef:
    table: Table
    needs: frozenset[str]  # subset of {"time", "price"}
    description: str
    #: where there is no history: counts and shares are 0, times, prices and ratios missing (null)
    zero_without_history: bool = True


def _f(table: Table, description: str, *needs: str, null: bool = False) -> FeatureDef:
    return FeatureDef(table, frozenset(needs), description, zero_without_history=not null)


#: every aggregate feature a ranker can ask for (see the module docstring)
FEATURES: dict[str, FeatureDef] = {
    # user
    "user_count": _f("user", "the user's interactions"),
    "user_items": _f("user", "distinct items of the user"),
    "user_repeat_share": _f("user", "share of the user's interactions that repeat an item (repurchase rate)"),
    "user_days_since_last": _f("user", "days from the user's last interaction to now", "time", null=True),
    "user_days_since_first": _f("user", "days from the user's first interaction to now", "time", null=True),
    "user_recent_count": _f("user", "the user's interactions in the last recent_days", "time"),
    "user_active_days": _f("user", "distinct days with an interaction (sessions)", "time"),
    "user_last_session_size": _f("user", "interactions on the user's last active day", "time"),
    "user_price_mean": _f("user", "mean price the user paid", "price", null=True),
    "user_price_max": _f("user", "highest price the user paid", "price", null=True),
    # item
    "item_count": _f("item", "the item's interactions (popularity)"),
    "item_users": _f("item", "distinct users of the item"),
    "item_repeat_share": _f("item", "share of the item's users with more than one interaction with it"),
    "item_recent_count": _f("item", "interactions in the last recent_days", "time"),
    "item_trend": _f("item", "(recent count + 1) / (count in the recent_days before + 1)", "time", null=True),
    "item_decayed_count": _f("item", "interactions weighted by 2^(-age / half_life_days)", "time"),
    "item_age_days": _f("item", "days since the item's first interaction", "time", null=True),
    "item_days_since_last": _f("item", "days since the item's last interaction", "time", null=True),
    "item_price_mean": _f("item", "mean price paid for the item", "price", null=True),
    # user x item
    "ui_count": _f("pair", "the user's interactions with the item"),
    "ui_events_since_last": _f("pair", "the user's interactions after their last one with the item", null=True),
    "ui_days_since_last": _f("pair", "days since the user's last interaction with the item", "time", null=True),
    "ui_decayed_count": _f(
        "pair", "the user's interactions with the item weighted by 2^(-age / half_life_days)", "time"
    ),
    "ui_price_ratio": _f("pair", "the item's mean price / the user's mean price", "price", null=True),
    # user x item group (one column per item column in `groups`)
    "group_share": _f("group", "share of the user's interactions in the item's group (mean over a list's groups)"),
    "group_last_share": _f("group", "share of the user's last last_n interactions in the item's group"),
    "group_count": _f("group", "interactions with any item of the group (the group's popularity)"),
}


class AggregateParams(BaseModel):
    """Windows of the time features and the item columns of the group features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recent_days: float = Field(7.0, gt=0, description="window of the *_recent_count and item_trend features")
    half_life_days: float = Field(7.0, gt=0, description="half-life of the *_decayed_count features")
    last_n: int = Field(3, ge=1, description="group_last_share: the user's last N interactions")
    groups: list[str] = Field(
        default_factory=list, description="item columns for the group features, e.g. [product_code, product_type_name]"
    )


def check_features(names: list[str], *, columns: set[str], key: str) -> None:
    """Raise a :class:`ConfigError` naming ``key`` for a feature this data cannot give: an unknown
    name, or a price feature without a ``price`` column (``columns``: the history's columns)."""
    for name in names:
        spec = FEATURES.get(name)
        if spec is None:
            raise ConfigError(f"{key}: unknown feature {name!r}; valid features: {', '.join(FEATURES)}")
        if "price" in spec.needs and PRICE not in columns:
            valid = [n for n, s in FEATURES.items() if "price" not in s.needs]
            raise ConfigError(
                f"{key}: feature {name!r} needs a 'price' column, which this data set does not have "
                f"(a feature store with 'price', as H&M's); features for this data: {', '.join(valid)}"
            )


def check_groups(groups: list[str], item_columns: set[str] | None, key: str) -> None:
    """Each group column must be an item column of the data."""
    for column in groups:
        if item_columns is None:
            raise ConfigError(f"{key}: group column {column!r} needs an item table, and this data set has none")
        if column not in item_columns:
            raise ConfigError(
                f"{key}: group column {column!r} is not an item column; item columns: {', '.join(sorted(item_columns))}"
            )


def item_group_codes(items: pl.DataFrame, column: str) -> pl.DataFrame:
    """``item, code``: each item's group(s) in ``column`` as int32 codes (one row per group; list
    columns give several rows, a missing value none). Codes number the distinct values by first
    appearance, so they depend only on the item table."""
    frame = items.select(pl.col(I).cast(pl.Int32), pl.col(column).alias("value"))
    if isinstance(frame.schema["value"], pl.List):
        frame = frame.explode("value")
    frame = frame.filter(pl.col("value").is_not_null()).with_columns(pl.col("value").cast(pl.Utf8))
    codes = frame.select("value").unique(maintain_order=True).with_row_index("code")
    return frame.join(codes, on="value").select(I, pl.col("code").cast(pl.Int32)).sort(I, "code")


# ------------------------------------------------------------------------------------------------
@dataclass
class HistoryTables:
    """The aggregates of one history at one cutoff, ready to be joined onto candidates.

    ``user`` / ``item``: one row per user / item with history; ``pair``: one row per distinct
    (user, item) of the history; ``groups[column]``: ``user, code`` shares, and ``item_groups``
    / ``group_counts`` the item -> codes map and each code's popularity.
    """

    names: list[str]
    now: int
    user: pl.DataFrame
    item: pl.DataFrame
    pair: pl.DataFrame
    groups: dict[str, pl.DataFrame] = field(default_factory=dict)
    item_groups: dict[str, pl.DataFrame] = field(default_factory=dict)
    group_counts: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: per table: (the table, it sorted by its key, the int64 key): see :meth:`_sorted_table`
    _sorted: dict[int, tuple[pl.DataFrame, pl.DataFrame, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def compute(
        cls,
        history: pl.LazyFrame | pl.DataFrame,
        names: list[str],
        params: AggregateParams,
        *,
        cutoff: int | None = None,
        now: int | None = None,
        item_groups: dict[str, pl.DataFrame] | None = None,
    ) -> "HistoryTables":
        """Aggregate ``history`` (rows before ``cutoff`` only) for the features ``names``.

        ``now``: the reference time (default: ``cutoff``, else one second after the last row).
        ``item_groups``: ``column -> (item, code)`` from :func:`item_group_codes` for each column in
        ``params.groups`` (needed when a group feature is asked for).
        """
        lazy = history.lazy()
        if cutoff is not None:
            lazy = lazy.filter(pl.col(T) < cutoff)
        if now is None and cutoff is not None:
            now = int(cutoff)
        elif now is None:
            last = lazy.select(pl.col(T).max()).collect(engine="streaming").item()
            now = int(last) + 1 if last is not None else 0
        wanted = set(names)
        user = _collect(_user_aggregates(lazy, now, params, wanted))
        item = _collect(_item_aggregates(lazy, now, params, wanted))
        pair = _collect(_pair_aggregates(lazy, now, params, wanted))
        tables = cls(list(names), now, user, item, pair)
        if any(FEATURES[n].table == "group" for n in names) and params.groups:
            for column in params.groups:
                codes = (item_groups or {}).get(column)
                if codes is None:
                    raise ConfigError(f"group features over {column!r} need its item groups (item_group_codes)")
                tables.item_groups[column] = codes
                tables.groups[column], tables.group_counts[column] = _group_aggregates(lazy, codes, params)
        return tables

    def for_histories(self, history: pl.DataFrame, params: AggregateParams) -> "HistoryTables":
        """The user, user x item and group-share tables of other histories (e.g. a user's history
        plus events that arrived after these tables were computed, or anonymous sessions), at this
        table's "now", beside this table's item tables (item features stay those of the whole data)."""
        own = HistoryTables.compute(history.lazy(), self.names, params, now=self.now, item_groups=self.item_groups)
        own.item, own.group_counts = self.item, self.group_counts
        return own

    # ------------------------------------------------------------------ joining
    def join(self, candidates: pl.DataFrame) -> pl.DataFrame:
        """``candidates`` (``user``, ``item`` and any other columns) with one column per feature,
        in :attr:`columns` order; counts are 0 and "days since" features null where there is no history.

        Lookups, not joins: each table is sorted by its key once, and every candidate finds its row
        by binary search, so one request's few hundred candidates cost microseconds, not a hash of
        tables with millions of rows."""
        users = candidates[U].to_numpy().astype(np.int64)
        items = candidates[I].to_numpy().astype(np.int64)
        values: dict[str, np.ndarray] = {}
        for table, keys in ((self.user, (users,)), (self.item, (items,)), (self.pair, (users, items))):
            found = self._lookup(table, keys)
            for name in table.columns:
                if name not in (U, I):
                    values[name] = _gather(self._column(table, name), found)
        for column in self.groups:
            values.update(self._group_values(column, users, items))
        if "ui_price_ratio" in self.names:
            with np.errstate(divide="ignore", invalid="ignore"):
                values["ui_price_ratio"] = (values["_item_price"] / values["_user_price"]).astype(np.float32)
        out = []
        for name in self.columns:
            v = values.get(name)
            if v is None:  # a feature without any row (e.g. an empty history)
                v = np.full(len(users), np.nan, dtype=np.float32)
            if FEATURES[name.partition(":")[0]].zero_without_history:
                v = np.where(np.isnan(v), 0.0, v).astype(np.float32)
            out.append(pl.Series(name, v, dtype=pl.Float32, nan_to_null=True))
        return candidates.with_columns(out)

    def _sorted_table(self, table: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
        """``table`` sorted by its key (user, item, or user then item / code) and the key as int64
        (``first << 32 | second``), computed once per table."""
        cached = self._sorted.get(id(table))
        if cached is None or cached[0] is not table:
            keys = [k for k in (U, I, "code") if k in table.columns][:2]
            ordered = table.sort(keys, maintain_order=True) if table.height else table
            key = ordered[keys[0]].to_numpy().astype(np.int64) if table.height else np.empty(0, np.int64)
            if len(keys) == 2 and table.height:
                key = (key << 32) | ordered[keys[1]].to_numpy().astype(np.int64)
            cached = (table, ordered, key)
            self._sorted[id(table)] = cached
        return cached[1], cached[2]

    def _lookup(self, table: pl.DataFrame, keys: tuple[np.ndarray, ...]) -> np.ndarray:
        """Row of ``table`` (in its sorted order) for each key, ``-1`` where there is none."""
        _, sorted_keys = self._sorted_table(table)
        key = keys[0] if len(keys) == 1 else (keys[0] << 32) | keys[1]
        if sorted_keys.size == 0:
            return np.full(len(key), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_keys, key), sorted_keys.size - 1)
        return np.where(sorted_keys[pos] == key, pos, -1)

    def _column(self, table: pl.DataFrame, name: str) -> np.ndarray:
        ordered, _ = self._sorted_table(table)
        return ordered[name].to_numpy().astype(np.float64)

    def _group_values(self, column: str, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        """``group_share:<c>``, ``group_last_share:<c>``, ``group_count:<c>`` of each (user, item):
        the mean over the item's groups (0 for an item without one)."""
        codes_table, item_keys = self._sorted_table(self.item_groups[column])
        item_keys = item_keys >> 32  # (item, code) keys: the item part
        lo, hi = np.searchsorted(item_keys, items, "left"), np.searchsorted(item_keys, items, "right")
        lengths = hi - lo
        row = np.repeat(np.arange(len(items)), lengths)
        pos = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(int(lengths.sum()))
        code = codes_table["code"].to_numpy().astype(np.int64)[pos]
        shares, counts = self.groups[column], self.group_counts[column]
        found, count_row = self._lookup(shares, (users[row], code)), self._lookup(counts, (code,))
        per = {
            f"group_share:{column}": _gather(self._column(shares, "share"), found),
            f"group_last_share:{column}": _gather(self._column(shares, "last_share"), found),
            f"group_count:{column}": _gather(self._column(counts, "count"), count_row),
        }
        n = np.maximum(lengths, 1)
        return {
            name: (np.bincount(row, weights=np.nan_to_num(v), minlength=len(items)) / n).astype(np.float32)
            for name, v in per.items()
        }

    @property
    def columns(self) -> list[str]:
        """The feature columns :meth:`join` adds, in order."""
        out = []
        for name in self.names:
            if FEATURES[name].table == "group":
                out += [f"{name}:{column}" for column in self.groups]
            else:
                out.append(name)
        return out

    # ------------------------------------------------------------------ persistence (no pickle)
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Every table as ``{prefix}.{table}.{column}`` numpy arrays (numeric columns only)."""
        out: dict[str, np.ndarray] = {f"{prefix}.now": np.asarray(self.now, dtype=np.int64)}
        out[f"{prefix}.names"] = np.asarray(self.names, dtype=np.str_)
        frames = {"user": self.user, "item": self.item, "pair": self.pair}
        for column in self.groups:
            frames[f"groups/{column}"] = self.groups[column]
            frames[f"item_groups/{column}"] = self.item_groups[column]
            frames[f"group_counts/{column}"] = self.group_counts[column]
        for table, frame in frames.items():
            for name in frame.columns:
                out[f"{prefix}.{table}.{name}"] = frame[name].to_numpy()
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "HistoryTables":
        tables: dict[str, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            if key.startswith(prefix + ".") and key.count(".") >= 2:
                table, _, column = key[len(prefix) + 1 :].rpartition(".")
                tables.setdefault(table, {})[column] = value
        frame = lambda t: pl.DataFrame(tables.get(t, {}))  # noqa: E731
        out = cls(
            [str(n) for n in arrays[f"{prefix}.names"]],
            int(arrays[f"{prefix}.now"]),
            frame("user"),
            frame("item"),
            frame("pair"),
        )
        for table in tables:
            kind, _, column = table.partition("/")
            if kind == "groups":
                out.groups[column] = frame(table)
                out.item_groups[column] = frame(f"item_groups/{column}")
                out.group_counts[column] = frame(f"group_counts/{column}")
        return out


# ------------------------------------------------------------------------------------------------
# the aggregates (lazy); helper columns start with "_" and are dropped by HistoryTables.join's select


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect(engine="streaming")


def _days(expr: pl.Expr, now: int) -> pl.Expr:
    return ((pl.lit(now) - expr).cast(pl.Float64) / DAY).cast(pl.Float32)


def _decay(now: int, half_life_days: float) -> pl.Expr:
    return (-_LN2 * (pl.lit(now) - pl.col(T)).cast(pl.Float64) / (half_life_days * DAY)).exp()


def _user_aggregates(h: pl.LazyFrame, now: int, p: AggregateParams, wanted: set[str]) -> pl.LazyFrame:
    recent = now - p.recent_days * DAY
    aggs = {
        "user_count": pl.len().cast(pl.Float32),
        "user_items": pl.col(I).n_unique().cast(pl.Float32),
        "user_days_since_last": _days(pl.col(T).max(), now),
        "user_days_since_first": _days(pl.col(T).min(), now),
        "user_recent_count": (pl.col(T) >= recent).sum().cast(pl.Float32),
        "user_active_days": (pl.col(T) // DAY).n_unique().cast(pl.Float32),
        "user_last_session_size": ((pl.col(T) // DAY) == (pl.col(T).max() // DAY)).sum().cast(pl.Float32),
    }
    exprs = [aggs[n].alias(n) for n in aggs if n in wanted]
    if "user_repeat_share" in wanted:
        exprs.append((1 - pl.col(I).n_unique() / pl.len()).cast(pl.Float32).alias("user_repeat_share"))
    if wanted & {"user_price_mean", "ui_price_ratio"}:
        exprs.append(pl.col(PRICE).mean().cast(pl.Float32).alias("_user_price"))
    if "user_price_max" in wanted:
        exprs.append(pl.col(PRICE).max().cast(pl.Float32).alias("user_price_max"))
    out = h.group_by(U).agg(exprs or [pl.len().alias("_rows")])
    if "user_price_mean" in wanted:
        out = out.with_columns(pl.col("_user_price").alias("user_price_mean"))
    return out.with_columns(pl.col(U).cast(pl.Int32))


def _item_aggregates(h: pl.LazyFrame, now: int, p: AggregateParams, wanted: set[str]) -> pl.LazyFrame:
    recent = now - p.recent_days * DAY
    before = recent - p.recent_days * DAY
    ts = pl.col(T)
    aggs = {
        "item_count": pl.len().cast(pl.Float32),
        "item_users": pl.col(U).n_unique().cast(pl.Float32),
        "item_recent_count": (ts >= recent).sum().cast(pl.Float32),
        "item_decayed_count": _decay(now, p.half_life_days).sum().cast(pl.Float32),
        "item_age_days": _days(ts.min(), now),
        "item_days_since_last": _days(ts.max(), now),
    }
    exprs = [aggs[n].alias(n) for n in aggs if n in wanted]
    if "item_trend" in wanted:
        prev = ((ts >= before) & (ts < recent)).sum()
        exprs.append((((ts >= recent).sum() + 1) / (prev + 1)).cast(pl.Float32).alias("item_trend"))
    if wanted & {"item_price_mean", "ui_price_ratio"}:
        exprs.append(pl.col(PRICE).mean().cast(pl.Float32).alias("_item_price"))
    out = h.group_by(I).agg(exprs or [pl.len().alias("_rows")])
    if "item_repeat_share" in wanted:
        repeat = (
            h.group_by(I, U)
            .agg(pl.len().alias("_n"))
            .group_by(I)
            .agg((pl.col("_n") > 1).mean().cast(pl.Float32).alias("item_repeat_share"))
        )
        out = out.join(repeat, on=I, how="left")
    if "item_price_mean" in wanted:
        out = out.with_columns(pl.col("_item_price").alias("item_price_mean"))
    return out.with_columns(pl.col(I).cast(pl.Int32))


def _pair_aggregates(h: pl.LazyFrame, now: int, p: AggregateParams, wanted: set[str]) -> pl.LazyFrame:
    exprs = []
    if "ui_count" in wanted:
        exprs.append(pl.len().cast(pl.Float32).alias("ui_count"))
    if "ui_days_since_last" in wanted:
        exprs.append(_days(pl.col(T).max(), now).alias("ui_days_since_last"))
    if "ui_decayed_count" in wanted:
        exprs.append(_decay(now, p.half_life_days).sum().cast(pl.Float32).alias("ui_decayed_count"))
    if "ui_events_since_last" in wanted:
        # position counted from the user's last interaction (0 = last), in (timestamp, row) order
        h = h.with_columns(
            (pl.len().over(U).cast(pl.Int64) - 1 - pl.int_range(pl.len()).over(U, order_by=T)).alias("_from_end")
        )
        exprs.append(pl.col("_from_end").min().cast(pl.Float32).alias("ui_events_since_last"))
    if not exprs:
        return pl.LazyFrame(schema={U: pl.Int32, I: pl.Int32})
    return h.group_by(U, I).agg(exprs).with_columns(pl.col(U).cast(pl.Int32), pl.col(I).cast(pl.Int32))


def _group_aggregates(h: pl.LazyFrame, codes: pl.DataFrame, p: AggregateParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(user, code, share, last_share)`` and ``(code, group_count)`` of one group column."""
    h = h.select(U, I, T).with_columns(pl.col(I).cast(pl.Int32))
    # the user's last last_n interactions (timestamp order, ties by row order)
    h = h.with_columns(
        (pl.int_range(pl.len()).over(U, order_by=T) >= pl.len().over(U).cast(pl.Int64) - p.last_n).alias("_last")
    )
    totals = h.group_by(U).agg(pl.len().alias("_n"), pl.col("_last").sum().alias("_n_last"))
    per = (
        h.join(codes.lazy(), on=I).group_by(U, "code").agg(pl.len().alias("_k"), pl.col("_last").sum().alias("_k_last"))
    )
    shares = per.join(totals, on=U).select(
        pl.col(U).cast(pl.Int32),
        pl.col("code").cast(pl.Int32),
        (pl.col("_k") / pl.col("_n")).cast(pl.Float32).alias("share"),
        (pl.col("_k_last") / pl.col("_n_last")).cast(pl.Float32).alias("last_share"),
    )
    counts = h.join(codes.lazy(), on=I).group_by("code").agg(pl.len().cast(pl.Float32).alias("count"))
    return _collect(shares).sort(U, "code"), _collect(counts).sort("code")


def _gather(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]`` as float32, NaN where ``rows`` is ``-1``."""
    if values.size == 0:
        return np.full(len(rows), np.nan, dtype=np.float32)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan).astype(np.float32)


# ------------------------------------------------------------------------------------------------
def attach_interaction_columns(frame: pl.DataFrame, store: str | Path, columns: list[str]) -> pl.DataFrame:
    """``frame`` (interactions: user, item, timestamp, ...) with ``columns`` of a feature store's
    interaction features (e.g. ``price``) joined on (user, item, timestamp).

    Only the rows of ``frame`` get values: a model that reads the store through this function sees
    no interaction it was not given (the store holds every part of the split). Rows repeated in
    the store at one (user, item, timestamp) get the mean of their values.
    """
    from recsmith.features.store import FeatureStore

    fs = FeatureStore(store)
    available = set(fs.interactions().collect_schema().names())
    missing = [c for c in columns if c not in available]
    if missing:
        raise ConfigError(
            f"the feature store {fs.root} has no interaction column {missing}; it has {sorted(available)}"
        )
    keys = [U, I, T]
    values = fs.interactions().select(*keys, *columns).group_by(keys).agg([pl.col(c).mean() for c in columns])
    typed = frame.lazy().with_columns(pl.col(U).cast(pl.Int32), pl.col(I).cast(pl.Int32), pl.col(T).cast(pl.Int64))
    values = values.with_columns(pl.col(U).cast(pl.Int32), pl.col(I).cast(pl.Int32), pl.col(T).cast(pl.Int64))
    return typed.join(values, on=keys, how="left", maintain_order="left").collect(engine="streaming")


def store_columns(store: str | Path | None) -> set[str]:
    """The interaction columns of a feature store (empty without one)."""
    if store is None:
        return set()
    from recsmith.features.store import FeatureStore

    return set(FeatureStore(store).interactions().collect_schema().names())
