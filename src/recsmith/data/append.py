"""A new version of a prepared dataset: its interactions plus new ones, the old version untouched.

Ids are stable across versions: a user or item the dataset knows keeps its internal id, new ones get
the next free ids in order of first appearance, so every model fitted on the old version addresses
the same users and items in the new one (what a warm start and a champion / challenger comparison
rely on). The new rows follow the old version's de-duplication policy; the result is sorted by
(user, timestamp) with old rows before new ones at equal times, like every prepared dataset.

Unknown ids are handled by a policy per kind, never silently: ``add`` (new ids, the default),
``skip`` (the rows are dropped and counted) or ``error`` (a :class:`~recsmith.errors.DataError`
naming some of them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.data.prepare import deduplicate
from recsmith.data.schema import INTERNAL_SCHEMA, Columns
from recsmith.errors import DataError

UnknownPolicy = Literal["add", "skip", "error"]
_ORDER = "__row"


@dataclass
class AppendReport:
    rows: int = 0  # rows offered
    appended: int = 0  # interactions in the new version that were not in the old one
    new_users: list[str] = field(default_factory=list)
    new_items: list[str] = field(default_factory=list)
    skipped_unknown_users: int = 0
    skipped_unknown_items: int = 0
    removed_by_dedupe: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "appended": self.appended,
            "new_users": len(self.new_users),
            "new_items": len(self.new_items),
            "skipped_unknown_users": self.skipped_unknown_users,
            "skipped_unknown_items": self.skipped_unknown_items,
            "removed_by_dedupe": self.removed_by_dedupe,
        }


def append_interactions(
    dataset: Dataset,
    rows: pl.DataFrame,
    *,
    unknown_users: UnknownPolicy = "add",
    unknown_items: UnknownPolicy = "add",
    lineage: dict[str, Any] | None = None,
) -> tuple[Dataset, AppendReport]:
    """``dataset`` with ``rows`` (``user_id, item_id: str, timestamp: int64, weight: float32``)
    appended, as a new :class:`Dataset` (nothing is written); ``lineage`` goes into its manifest."""
    report = AppendReport(rows=rows.height)
    rows = rows.select(
        pl.col(Columns.UserId).cast(pl.Utf8),
        pl.col(Columns.ItemId).cast(pl.Utf8),
        pl.col(Columns.Timestamp).cast(pl.Int64),
        pl.col(Columns.Weight).cast(pl.Float32),
    )
    rows, user_map, report.new_users, report.skipped_unknown_users = _extend(
        rows, dataset.user_map, Columns.UserId, unknown_users
    )
    rows, item_map, report.new_items, report.skipped_unknown_items = _extend(
        rows, dataset.item_map, Columns.ItemId, unknown_items
    )
    rows = user_map.encode(rows, Columns.UserId, Columns.User)
    rows = item_map.encode(rows, Columns.ItemId, Columns.Item)
    old = dataset.interactions.frame
    combined = pl.concat([old, rows.select([pl.col(c).cast(t) for c, t in INTERNAL_SCHEMA.items()])]).with_row_index(
        _ORDER
    )
    policy = str((dataset.manifest.get("preparation") or {}).get("dedupe", "none"))
    before = combined.height
    combined = _dedupe(combined, policy)
    report.removed_by_dedupe = before - combined.height
    combined = combined.sort([Columns.User, Columns.Timestamp, _ORDER]).drop(_ORDER)
    report.appended = combined.height - old.height
    manifest = copy.deepcopy(dataset.manifest)
    manifest.pop("counts", None)
    manifest["lineage"] = lineage or {}
    grown = Dataset(
        interactions=Interactions(combined, len(user_map), len(item_map)),
        user_map=user_map,
        item_map=item_map,
        items=_extend_table(dataset.items, Columns.Item, len(item_map)),
        users=_extend_table(dataset.users, Columns.User, len(user_map)),
        manifest=manifest,
    )
    return grown, report


def _extend(
    rows: pl.DataFrame, idmap: IdMap, column: str, policy: UnknownPolicy
) -> tuple[pl.DataFrame, IdMap, list[str], int]:
    """``(rows, id map with the new ids, new ids, rows skipped)`` under ``policy``."""
    rows = rows.with_columns(idmap.canonical(column))  # H&M's 108775015 is the known 0108775015
    known = pl.col(column).is_in(idmap.external_ids.implode())
    unknown = rows.filter(~known)[column].unique(maintain_order=True).to_list()
    if not unknown:
        return rows, idmap, [], 0
    if policy == "error":
        raise DataError(
            f"{len(unknown)} unknown {idmap.kind} ids (e.g. {unknown[:5]}); the dataset has {len(idmap)} "
            f"{idmap.kind}s. Pass --unknown-{idmap.kind}s add to give them new ids, or skip to drop their rows"
        )
    if policy == "skip":
        kept = rows.filter(known)
        return kept, idmap, [], rows.height - kept.height
    grown = IdMap(
        pl.concat([idmap.external_ids, pl.Series(idmap.external_ids.name, unknown, dtype=pl.Utf8)]),
        kind=idmap.kind,
        digits=idmap.digits,
    )
    return rows, grown, unknown, 0


def _dedupe(frame: pl.DataFrame, policy: str) -> pl.DataFrame:
    """The preparation's de-duplication (:func:`recsmith.data.prepare.deduplicate`) on internal ids."""
    if policy == "none":
        return frame
    named = frame.rename({Columns.User: Columns.UserId, Columns.Item: Columns.ItemId})
    out = deduplicate(named, policy).rename({Columns.UserId: Columns.User, Columns.ItemId: Columns.Item})
    return out.select([_ORDER, *INTERNAL_SCHEMA])


def _extend_table(table: pl.DataFrame | None, key: str, n: int) -> pl.DataFrame | None:
    """A side table with a row of nulls for every new id (new items have no attributes yet)."""
    if table is None or table.height == 0:
        return table
    missing = np.setdiff1d(np.arange(n), table[key].to_numpy())
    if not missing.size:
        return table
    extra = pl.DataFrame({key: pl.Series(missing).cast(table.schema[key])})
    return pl.concat([table, extra], how="diagonal_relaxed").sort(key)
