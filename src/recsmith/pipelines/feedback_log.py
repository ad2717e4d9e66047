"""The service's feedback log (:mod:`recsmith.serving.feedback`, SQLite) read as new interactions.

Read-only (the service may keep writing): the rows with an id above ``after_id`` (what an earlier
retrain already consumed), oldest first. Every row is accounted for, none dropped silently:

* ``malformed``: an empty or over-long user / item id, a timestamp that is not a whole number of
  seconds between 0 and 9999-12-31, an event type the service does not know, a non-finite value;
  counted per reason, with the first few row ids;
* ``negative``: ``dislike`` events, and ``rating`` events below the dataset's rating threshold: not
  interactions to learn from;
* ``interactions``: the rest, one row each (weight 1, the implicit signal every prepared dataset uses).

The counts go into the retrain report and the new dataset's manifest.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from recsmith.data.schema import Columns
from recsmith.errors import DataError
from recsmith.serving.schemas import EVENT_TYPES, MAX_ID_LENGTH, MAX_TIMESTAMP

NEGATIVE_TYPES = frozenset({"dislike"})
_EXAMPLES = 5


@dataclass
class FeedbackRows:
    interactions: pl.DataFrame  # user_id, item_id, timestamp, weight, event_id
    read: int = 0
    first_id: int | None = None
    last_id: int | None = None
    negative: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    malformed_examples: dict[str, list[int]] = field(default_factory=dict)
    event_types: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "first_id": self.first_id,
            "last_id": self.last_id,
            "interactions": self.interactions.height,
            "negative": self.negative,
            "malformed": sum(self.malformed.values()),
            "malformed_by_reason": self.malformed,
            "malformed_row_ids": self.malformed_examples,
            "event_types": self.event_types,
        }


def read_feedback(path: str | Path, *, after_id: int = 0, rating_threshold: float | None = None) -> FeedbackRows:
    """The events of the log at ``path`` with id above ``after_id`` (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no feedback log here (the service writes STATE_DIR/feedback.sqlite3)", path=str(path))
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
            rows = db.execute(_QUERY, (after_id,)).fetchall()
    except sqlite3.DatabaseError as err:
        raise DataError(f"not a readable feedback log: {err}", path=str(path)) from None
    # SQLite columns are dynamically typed: the query typed each one (NULL where the stored value has
    # another type), so every check below is a column expression
    frame = pl.DataFrame(rows, schema=_RAW, orient="row")
    out = FeedbackRows(pl.DataFrame(schema=_SCHEMA), read=frame.height)
    if frame.height == 0:
        return out
    out.first_id, out.last_id = int(frame["id"].min()), int(frame["id"].max())  # type: ignore[arg-type]
    out.event_types = dict(frame.group_by("type").len().iter_rows())
    checked = frame.with_columns(_reason().alias("reason"))
    bad = checked.filter(pl.col("reason").is_not_null())
    for reason, ids in bad.group_by("reason", maintain_order=True).agg(pl.col("id")).iter_rows():
        out.malformed[reason] = len(ids)
        out.malformed_examples[reason] = [int(i) for i in ids[:_EXAMPLES]]
    good = checked.filter(pl.col("reason").is_null())
    negative = pl.col("type").is_in(list(NEGATIVE_TYPES))
    if rating_threshold is not None:
        negative = negative | ((pl.col("type") == "rating") & (pl.col("value") < rating_threshold)).fill_null(False)
    out.negative = int(good.filter(negative).height)
    out.interactions = good.filter(~negative).select(
        pl.col("user_id").alias(Columns.UserId),
        pl.col("item_id").alias(Columns.ItemId),
        pl.col("timestamp").alias(Columns.Timestamp),
        pl.lit(1.0, dtype=pl.Float32).alias(Columns.Weight),
        pl.col("id").alias("event_id"),
    )
    return out


_QUERY = """
SELECT id,
       CASE WHEN typeof(user_id) = 'text' THEN user_id END,
       CASE WHEN typeof(item_id) = 'text' THEN item_id END,
       CASE WHEN typeof(type) = 'text' THEN type END,
       CASE WHEN typeof(timestamp) = 'integer' THEN timestamp END,
       CASE WHEN typeof(value) IN ('integer', 'real') THEN CAST(value AS REAL) END,
       typeof(value) NOT IN ('null', 'integer', 'real')
FROM events WHERE id > ? ORDER BY id
"""
_RAW = {
    "id": pl.Int64,
    "user_id": pl.Utf8,
    "item_id": pl.Utf8,
    "type": pl.Utf8,
    "timestamp": pl.Int64,
    "value": pl.Float64,
    "value_not_number": pl.Boolean,
}
_SCHEMA = {
    Columns.UserId: pl.Utf8,
    Columns.ItemId: pl.Utf8,
    Columns.Timestamp: pl.Int64,
    Columns.Weight: pl.Float32,
    "event_id": pl.Int64,
}


def _reason() -> pl.Expr:
    """Why a row of the log is not a valid event (null when it is one); the first reason wins."""
    expr: Any = pl.when(False).then(pl.lit(None, dtype=pl.Utf8))  # a chain of when / then
    for name in ("user_id", "item_id"):
        text = pl.col(name)
        expr = expr.when(text.is_null() | (text.str.strip_chars() == "")).then(pl.lit(f"empty {name}"))
        expr = expr.when(text.str.len_chars() > MAX_ID_LENGTH).then(pl.lit(f"{name} longer than {MAX_ID_LENGTH}"))
    expr = expr.when(~pl.col("type").is_in(list(EVENT_TYPES)).fill_null(False)).then(pl.lit("unknown event type"))
    ts = pl.col("timestamp")
    expr = expr.when(ts.is_null() | (ts < 0) | (ts > MAX_TIMESTAMP)).then(
        pl.lit("timestamp not a whole number of seconds in 0..9999-12-31")
    )
    value = pl.col("value")
    return (
        expr.when(pl.col("value_not_number") | value.is_nan().fill_null(False) | value.is_infinite().fill_null(False))
        .then(pl.lit("value not a finite number"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
