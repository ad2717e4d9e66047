"""From a source's :class:`RawData` to a :class:`Dataset`: filters, de-duplication, k-core, id encoding.

Order of steps (each one a columnar Polars expression, no Python loop over rows):

1. explicit -> implicit: keep rows with ``weight >= rating_threshold``, then set ``weight = 1``;
2. de-duplication of repeated (user, item) pairs by the configured policy;
3. iterative k-core: drop users / items below the minimum counts until none is left to drop;
4. id encoding: users and items numbered in order of first appearance in time order;
5. sort by (user, timestamp), ties kept in source order (what the chronological splits rely on).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from recsmith import __version__
from recsmith.data.config import DataConfig
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.data.schema import INTERNAL_SCHEMA, Columns
from recsmith.data.sources.base import RawData, get_source, item_id_digits
from recsmith.errors import RecsmithError

_ORDER = "__row"  # source row order, the tie-breaker for equal timestamps


def read_source(cfg: DataConfig) -> RawData:
    """Run the configured source reader."""
    reader = get_source(cfg.source)
    return reader(cfg.path, on_bad_rows=cfg.on_bad_rows, **cfg.options)


def prepare(raw: RawData, cfg: DataConfig) -> Dataset:
    """Apply the preparation steps of ``cfg`` to ``raw`` and return the prepared dataset."""
    frame = raw.interactions.with_row_index(_ORDER)
    n_raw = frame.height
    steps: dict[str, Any] = {"raw_interactions": n_raw}

    if cfg.rating_threshold is not None:
        frame = frame.filter(pl.col(Columns.Weight) >= cfg.rating_threshold).with_columns(
            pl.lit(1.0, dtype=pl.Float32).alias(Columns.Weight)
        )
        steps["after_rating_threshold"] = frame.height

    frame = deduplicate(frame, cfg.dedupe)
    steps["after_dedupe"] = frame.height

    frame, rounds = k_core(frame, cfg.min_user_interactions, cfg.min_item_interactions)
    steps["after_k_core"] = frame.height
    steps["k_core_rounds"] = rounds
    if frame.height == 0:
        raise RecsmithError(
            f"no interactions left after preparation ({n_raw} read; steps: {steps}); "
            "lower rating_threshold or the k-core minimums"
        )

    frame = frame.sort([Columns.Timestamp, _ORDER])
    user_map = IdMap.from_values(frame[Columns.UserId], kind="user")
    item_map = IdMap.from_values(frame[Columns.ItemId], kind="item", digits=item_id_digits(cfg.source))
    frame = user_map.encode(frame, Columns.UserId, Columns.User)
    frame = item_map.encode(frame, Columns.ItemId, Columns.Item)
    frame = frame.sort([Columns.User, Columns.Timestamp, _ORDER])
    interactions = Interactions(frame.select(list(INTERNAL_SCHEMA)), len(user_map), len(item_map))

    manifest = {
        "name": raw.source.get("name", cfg.source),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recsmith_version": __version__,
        "source": raw.source,
        "preparation": cfg.model_dump(mode="json", exclude={"path", "options", "source"}),
        "steps": steps,
        "bad_rows": raw.bad_rows,
        "explicit": raw.explicit and cfg.rating_threshold is None,
    }
    return Dataset(
        interactions=interactions,
        user_map=user_map,
        item_map=item_map,
        items=_side_table(raw.items, item_map, Columns.ItemId, Columns.Item),
        users=_side_table(raw.users, user_map, Columns.UserId, Columns.User),
        manifest=manifest,
    )


def deduplicate(frame: pl.DataFrame, policy: str) -> pl.DataFrame:
    """Apply a de-duplication policy to repeated (user, item) pairs (see ``DataConfig.dedupe``)."""
    key = [Columns.UserId, Columns.ItemId]
    if policy == "none":
        return frame
    ordered = frame.sort([Columns.Timestamp, _ORDER])
    if policy in ("first", "last"):
        return ordered.unique(subset=key, keep="first" if policy == "first" else "last", maintain_order=True)
    if policy == "sum":
        return ordered.group_by(key, maintain_order=True).agg(
            pl.col(Columns.Timestamp).last(),
            pl.col(Columns.Weight).sum(),
            pl.col(_ORDER).last(),
        )
    raise ValueError(f"unknown dedupe policy {policy!r}")


def k_core(frame: pl.DataFrame, min_user: int, min_item: int, max_rounds: int = 100) -> tuple[pl.DataFrame, int]:
    """Iteratively drop users with < ``min_user`` and items with < ``min_item`` interactions.

    Dropping items can push users below the minimum again (and vice versa), hence the loop until
    a round removes nothing. Returns the filtered frame and the number of rounds.
    """
    if min_user <= 1 and min_item <= 1:
        return frame, 0
    for rounds in range(1, max_rounds + 1):
        before = frame.height
        frame = frame.filter((pl.len().over(Columns.UserId) >= min_user) & (pl.len().over(Columns.ItemId) >= min_item))
        if frame.height == before:
            return frame, rounds
    return frame, max_rounds


def _side_table(table: pl.DataFrame | None, idmap: IdMap, key: str, internal: str) -> pl.DataFrame | None:
    """Keep the rows of a side table whose id survived preparation, keyed by the internal id."""
    if table is None:
        return None
    out = idmap.encode(table, key, internal).filter(pl.col(internal).is_not_null())
    return out.select([internal, *[c for c in out.columns if c != internal]]).sort(internal)
