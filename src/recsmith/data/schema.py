"""Column names used everywhere (never spell them as string literals elsewhere).

The canonical *raw* interactions table produced by every source has external ids as strings::

    user_id: Utf8, item_id: Utf8, timestamp: Int64 (unix seconds, or the position in the user's
    sequence for formats without time), weight: Float32 (rating, count or 1.0)

A *prepared* dataset replaces the ids by contiguous internal ints (see :mod:`recsmith.data.idmap`)::

    user: Int32, item: Int32, timestamp: Int64, weight: Float32
"""

from __future__ import annotations

import polars as pl


class Columns:
    # external (raw) ids, always strings
    UserId = "user_id"
    ItemId = "item_id"
    # internal contiguous ids
    User = "user"
    Item = "item"
    Timestamp = "timestamp"
    Weight = "weight"
    # item / user side tables
    Name = "name"  # human-readable item name (title, product name), when the source has one
    Rank = "rank"
    Score = "score"


RAW_SCHEMA: dict[str, pl.DataType] = {
    Columns.UserId: pl.Utf8(),
    Columns.ItemId: pl.Utf8(),
    Columns.Timestamp: pl.Int64(),
    Columns.Weight: pl.Float32(),
}

INTERNAL_SCHEMA: dict[str, pl.DataType] = {
    Columns.User: pl.Int32(),
    Columns.Item: pl.Int32(),
    Columns.Timestamp: pl.Int64(),
    Columns.Weight: pl.Float32(),
}


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema`` (column order included)."""
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"interactions table lacks columns {missing}; has {frame.columns}")
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])
