"""Train / validation / test splits of a prepared dataset, all on internal ids.

================  ===============================================================================
method            rule
================  ===============================================================================
``loo``           leave-one-out per user, chronological: last interaction = test, second-last =
                  validation, the rest = train. Users with fewer than ``min_interactions`` stay
                  entirely in train (they still shape the model, they are not evaluated).
``last_n``        as ``loo`` with the last ``n`` interactions per user for test and the ``n`` before
                  them for validation.
``temporal``      one global time T: train < T <= test. With validation, the window
                  ``[T - valid_seconds, T)`` is validation and train is everything before it. This
                  is the split closest to production: nothing after T is seen while training.
``random``        seeded random share of interactions for test / validation (no time order: only
                  for comparison with papers that use it; it leaks the future).
================  ===============================================================================

"Chronological" relies on the prepared dataset's order: sorted by (user, timestamp), equal
timestamps kept in source order. For the temporal and random splits, validation / test users
without any training interaction are dropped when ``drop_cold_users`` is set (the default): they
are a cold-start problem that needs its own slice, and keeping them would silently score them 0.

Held-out items (``cold_items = f > 0``; ``loo``, ``last_n`` and ``temporal`` only): a seeded
(``seed``) random share ``f`` of the items that have interactions, ``round(f * n)`` of them, is
held out of training. The split is first made as usual; then every *train and validation*
interaction with a held-out item is removed, and its *test* interactions stay. So a held-out item
appears in test only where it is a user's own test item (their last one under ``loo``, one after T
under ``temporal``), and the models never see it, not even through validation: the cold-item
situation of a new product, on data (like Amazon Beauty under leave-one-out) where every item
would otherwise be seen in training. Users keep their remaining history; their other interactions
with held-out items are simply gone. ``Split.cold_items`` lists the held-out item ids; the
evaluation's ``new items`` slice (test items without train / validation interactions) contains them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import numpy as np
import polars as pl

from recsmith.data.config import SplitConfig
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import ConfigError, RecsmithError

_POS_FROM_END = "__pos_from_end"
_PART = "__part"
TRAIN, VALID, TEST = 0, 1, 2


@dataclass(frozen=True)
class Split:
    train: Interactions
    valid: Interactions | None
    test: Interactions
    #: sorted int64 ids of the items held out of train and validation (``split.cold_items``), or None
    cold_items: np.ndarray | None = None

    def train_full(self) -> Interactions:
        """Train + validation: what a model selected on validation is refitted on before testing."""
        return self.train if self.valid is None else self.train.concat(self.valid)

    def summary(self) -> dict[str, dict[str, int]]:
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        out = {
            name: {"interactions": len(p), "users": int(p.frame[Columns.User].n_unique())}
            for name, p in parts.items()
            if p is not None
        }
        if self.cold_items is not None:
            in_test = self.test.frame[Columns.Item].is_in(self.cold_items.tolist())
            out["cold_items"] = {"items": int(self.cold_items.size), "test_interactions": int(in_test.sum())}
        return out


def split(data: Interactions, cfg: SplitConfig) -> Split:
    """Split ``data`` by ``cfg.method``; see the module docstring for the rules."""
    frame = data.frame
    if cfg.method == "loo":
        part = _tail_parts(frame, 1, cfg.valid, cfg.min_interactions)
    elif cfg.method == "last_n":
        part = _tail_parts(frame, cfg.n, cfg.valid, cfg.min_interactions)
    elif cfg.method == "temporal":
        part = _temporal_parts(frame, cfg)
    elif cfg.method == "random":
        part = _random_parts(frame, cfg)
    else:  # pragma: no cover - pydantic restricts the literal
        raise ConfigError(f"unknown split method {cfg.method!r}")
    labelled = frame.with_columns(part.alias(_PART))
    cold = None
    if cfg.cold_items > 0:
        cold = _held_out_items(frame, cfg)
        labelled = labelled.filter((pl.col(_PART) == TEST) | ~pl.col(Columns.Item).is_in(cold.tolist()))
    if cfg.method in ("temporal", "random") and cfg.drop_cold_users:
        labelled = _drop_cold_users(labelled)
    parts = {p: labelled.filter(pl.col(_PART) == p).drop(_PART) for p in (TRAIN, VALID, TEST)}
    if parts[TEST].height == 0:
        raise RecsmithError(
            f"split {cfg.method!r} left no test interactions "
            f"({frame.height} interactions, {frame[Columns.User].n_unique()} users); " + _empty_test_hint(frame, cfg)
        )
    wrap = lambda f: Interactions(f, data.n_users, data.n_items)  # noqa: E731
    return Split(
        train=wrap(parts[TRAIN]),
        valid=wrap(parts[VALID]) if cfg.valid else None,
        test=wrap(parts[TEST]),
        cold_items=cold,
    )


def _held_out_items(frame: pl.DataFrame, cfg: SplitConfig) -> np.ndarray:
    """The seeded ``cold_items`` share of the items with interactions (module docstring)."""
    if cfg.method not in ("loo", "last_n", "temporal"):
        raise ConfigError(
            f"split.cold_items works with the loo, last_n and temporal splits, not {cfg.method!r}: "
            "a random split has no 'test item' per user to keep"
        )
    active = np.unique(frame[Columns.Item].to_numpy()).astype(np.int64)
    n_held = round(cfg.cold_items * active.size)
    rng = np.random.default_rng(cfg.seed)
    return np.sort(rng.choice(active, size=n_held, replace=False))


def _tail_parts(frame: pl.DataFrame, n: int, with_valid: bool, min_interactions: int) -> pl.Expr:
    """Label the last ``n`` rows of each user test and the ``n`` before validation."""
    # position counted from the user's last interaction: 0 = last. Relies on the dataset order.
    pos = (pl.len().over(Columns.User) - 1 - pl.int_range(pl.len()).over(Columns.User)).alias(_POS_FROM_END)
    count = pl.len().over(Columns.User)
    held = 2 * n if with_valid else n
    eligible = count >= max(min_interactions, held + 1)
    return (
        pl.when(eligible & (pos < n))
        .then(TEST)
        .when(eligible & with_valid & (pos < 2 * n))
        .then(VALID)
        .otherwise(TRAIN)
    )


def _empty_test_hint(frame: pl.DataFrame, cfg: SplitConfig) -> str:
    """What to change when a split leaves no test interactions: for a temporal split, where its
    cut-off lies against the data's time span (e.g. a one-day sample under a full-data config)."""
    if cfg.method != "temporal" or cfg.test_time is None:
        return "check its settings"
    first, last = (int(cast(int, v)) for v in (frame[Columns.Timestamp].min(), frame[Columns.Timestamp].max()))
    span = f"the interactions span {_day(first)} .. {_day(last)}"
    if first == last:
        return (
            f"{span}, a single instant, which no cut-off splits: use --split random (a seeded share of "
            "the interactions) or --split loo (each user's last one in file order)"
        )
    return (
        f"split.test_time {cfg.test_time} (unix {parse_time(cfg.test_time)}) is after all of them: {span}; "
        "set --set split.test_time=DATE inside that span, or use --split random / loo"
    )


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _temporal_parts(frame: pl.DataFrame, cfg: SplitConfig) -> pl.Expr:
    if cfg.test_time is None:
        raise ConfigError("split.test_time is required for method 'temporal' (ISO date or unix seconds)")
    t = parse_time(cfg.test_time)
    ts = pl.col(Columns.Timestamp)
    if not cfg.valid:
        return pl.when(ts >= t).then(TEST).otherwise(TRAIN)
    window = cfg.valid_seconds
    if window is None:  # same length as the test period
        window = max(cast(int, frame[Columns.Timestamp].max()) - t + 1, 1)  # int64 column: an int
    return pl.when(ts >= t).then(TEST).when(ts >= t - window).then(VALID).otherwise(TRAIN)


def _random_parts(frame: pl.DataFrame, cfg: SplitConfig) -> pl.Expr:
    if cfg.valid and cfg.test_ratio + cfg.valid_ratio >= 1:
        raise ConfigError("split.test_ratio + split.valid_ratio must be below 1")
    u = np.random.default_rng(cfg.seed).random(frame.height)
    draw = pl.Series(u)
    valid_ratio = cfg.valid_ratio if cfg.valid else 0.0
    return (
        pl.when(pl.lit(draw) < cfg.test_ratio)
        .then(TEST)
        .when(pl.lit(draw) < cfg.test_ratio + valid_ratio)
        .then(VALID)
        .otherwise(TRAIN)
    )


def _drop_cold_users(labelled: pl.DataFrame) -> pl.DataFrame:
    has_train = (pl.col(_PART) == TRAIN).any().over(Columns.User)
    return labelled.filter((pl.col(_PART) == TRAIN) | has_train)


def parse_time(value: str | int) -> int:
    """ISO date / datetime (UTC when no zone is given) or unix seconds -> unix seconds."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"cannot parse time {value!r}: use an ISO date like 2020-09-01 or unix seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())
