"""A prepared dataset: internal-id interactions, the id maps and the side tables, stored as a directory.

Layout (written atomically: a temporary sibling directory renamed into place)::

    DIR/
      manifest.json          format version, source, preparation options, counts, schema, bad rows
      interactions.parquet   user:int32, item:int32, timestamp:int64, weight:float32,
                             sorted by (user, timestamp), ties kept in source order
      user_ids.parquet       external user ids; row i is internal user i
      item_ids.parquet       external item ids; row i is internal item i
      items.parquet          optional: item:int32 + attributes (``name`` when the source has names)
      users.parquet          optional: user:int32 + attributes
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import RecsmithError
from recsmith.utils.atomic import atomic_dir

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass
class Dataset:
    interactions: Interactions
    user_map: IdMap
    item_map: IdMap
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    def item_names(self, items: np.ndarray | list[int]) -> list[str | None]:
        """Human-readable names of internal items (None where the source has no name)."""
        items = np.asarray(items, dtype=np.int64)
        if self.items is None or Columns.Name not in self.items.columns:
            return [None] * len(items)
        names = dict(zip(self.items[Columns.Item].to_list(), self.items[Columns.Name].to_list()))
        return [names.get(int(i)) for i in items]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        path = Path(path)
        manifest = {
            "format_version": FORMAT_VERSION,
            **self.manifest,
            "counts": {
                "interactions": len(self.interactions),
                "users": self.n_users,
                "items": self.n_items,
            },
            "schema": {name: str(dtype) for name, dtype in self.interactions.frame.schema.items()},
            "tables": {
                "items": self.items.columns if self.items is not None else None,
                "users": self.users.columns if self.users is not None else None,
            },
        }
        with atomic_dir(path, overwrite=overwrite) as tmp:
            self.interactions.frame.write_parquet(tmp / "interactions.parquet")
            self.user_map.save(tmp / "user_ids.parquet")
            self.item_map.save(tmp / "item_ids.parquet")
            if self.items is not None:
                self.items.write_parquet(tmp / "items.parquet")
            if self.users is not None:
                self.users.write_parquet(tmp / "users.parquet")
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        self.manifest = manifest
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Dataset":
        path = Path(path)
        manifest_file = path / MANIFEST
        if not manifest_file.exists():
            raise RecsmithError(
                f"{path} is not a prepared dataset (no {MANIFEST}); create one with `recsmith data prepare`"
            )
        manifest = json.loads(manifest_file.read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise RecsmithError(f"{path}: unsupported dataset format {manifest.get('format_version')!r}")
        user_map = IdMap.load(path / "user_ids.parquet", kind="user")
        item_map = IdMap.load(path / "item_ids.parquet", kind="item")
        frame = pl.read_parquet(path / "interactions.parquet")
        optional = {
            name: pl.read_parquet(path / f"{name}.parquet") if (path / f"{name}.parquet").exists() else None
            for name in ("items", "users")
        }
        return cls(
            interactions=Interactions(frame, len(user_map), len(item_map)),
            user_map=user_map,
            item_map=item_map,
            items=optional["items"],
            users=optional["users"],
            manifest=manifest,
        )
