"""Side data: what a model may know about items and users besides the interactions.

Content-based, hybrid, two-tower and generative models read item attributes (names, categories,
text, image paths) and user attributes; collaborative models ignore them. The benchmark, the CLI
and the tests hand the same object to every model through :meth:`Recommender.with_side_data
<recsmith.models.base.Recommender.with_side_data>` before ``fit``. It never carries interactions, so
giving it to a model cannot leak the held-out parts of a split.

A model that uses side data must save what it derived from it (attribute ids, precomputed text
embeddings) in its own state, so that a loaded model needs no side data to recommend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from recsmith.data.schema import Columns
from recsmith.errors import ConfigError

if TYPE_CHECKING:
    from recsmith.data.dataset import Dataset

#: where embedding caches live inside a prepared dataset directory
CACHE_DIR = "cache"


@dataclass(frozen=True)
class SideData:
    """Item and user tables aligned with the internal ids.

    Attributes:
        items: one row per internal item ``0..n_items-1`` in order: column ``item`` plus the
            dataset's item attributes (missing attributes are null), or None.
        users: the same for users, or None.
        item_ids: external item ids, index = internal id (caches keyed by item use them).
        cache_dir: where encoders may cache per-item embeddings, or None for no cache.
        feature_store: the dataset's feature store directory (:mod:`recsmith.features`), or None.
            It holds per-interaction values (e.g. ``price``) of *every* part of the split, so a
            model may only read them for the interactions it is given
            (:func:`recsmith.features.aggregates.attach_interaction_columns` does exactly that).
    """

    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    item_ids: np.ndarray | None = None
    cache_dir: Path | None = None
    feature_store: Path | None = None

    @classmethod
    def from_dataset(cls, dataset: "Dataset", path: str | Path | None = None) -> "SideData":
        """The side tables of a prepared dataset; ``path`` (its directory) enables the embedding cache
        and, where the dataset has one, the feature store."""
        store = dataset.manifest.get("features")
        return cls(
            items=aligned(dataset.items, Columns.Item, dataset.n_items),
            users=aligned(dataset.users, Columns.User, dataset.n_users),
            item_ids=dataset.item_map.external_ids.to_numpy(),
            cache_dir=Path(path) / CACHE_DIR if path is not None else None,
            feature_store=Path(path) / store if path is not None and store else None,
        )

    @property
    def n_items(self) -> int:
        return 0 if self.items is None else self.items.height

    def item_column(self, name: str) -> pl.Series:
        """One item attribute column, aligned with internal ids; a clear error when it is missing."""
        if self.items is None:
            raise ConfigError(f"item column {name!r} was asked for, but the dataset has no item table")
        if name not in self.items.columns:
            raise ConfigError(
                f"item column {name!r} is not in the item table; columns: {', '.join(self.items.columns)}"
            )
        return self.items[name]

    def item_texts(self, columns: list[str], *, separator: str = " | ") -> list[str]:
        """One text per item: the listed columns joined (lists joined with ``", "``; nulls skipped)."""
        parts = []
        for name in columns:
            col = self.item_column(name)
            if col.dtype == pl.List(pl.Utf8) or isinstance(col.dtype, pl.List):
                col = col.cast(pl.List(pl.Utf8)).list.join(", ")
            parts.append(col.cast(pl.Utf8).fill_null("").to_list())
        return [separator.join(p for p in row if p) for row in zip(*parts)] if parts else []


def aligned(table: pl.DataFrame | None, key: str, n: int) -> pl.DataFrame | None:
    """``table`` reindexed to exactly the rows ``key = 0..n-1`` (absent ids get null attributes)."""
    if table is None or key not in table.columns:
        return None
    frame = pl.DataFrame({key: pl.int_range(0, n, dtype=pl.Int32, eager=True)})
    table = table.with_columns(pl.col(key).cast(pl.Int32)).unique(key, keep="first", maintain_order=True)
    return frame.join(table, on=key, how="left", maintain_order="left")
