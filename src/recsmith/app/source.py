"""What the app looks at: a run directory (every model in it) or bundles, one engine per model.

Opening a source reads the id maps and the item table only; models load in the background
(:meth:`AppSource.warm`) or on first use, so the page is up in seconds whatever the models weigh.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.idmap import IdMap
from recsmith.data.schema import Columns
from recsmith.errors import RecsmithError
from recsmith.runs.layout import Run
from recsmith.runs.recommend import model_abilities
from recsmith.serving.bundle import Bundle
from recsmith.serving.engine import Engine

#: column of item image paths or URLs (as ``recsmith recommend --image`` reads them)
IMAGE_COLUMN = "image"


@dataclass
class AppSource:
    """The catalogue, the users and a loader per model. Build with :meth:`from_run` / :meth:`from_bundles`."""

    title: str
    user_map: IdMap
    item_map: IdMap
    items: pl.DataFrame | None
    #: model name -> a function that builds its engine (called once, in the background or on first use)
    loaders: dict[str, Callable[[], Engine]]
    #: the run (text / image search over its items), or None for bundles
    run: Run | None = None
    #: directory that relative image paths resolve against
    image_root: Path | None = None
    _engines: dict[str, Future] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="app-load"))

    # ------------------------------------------------------------------ opening
    @classmethod
    def from_run(cls, path: str | Path) -> AppSource:
        run = Run.open(path)
        if not run.models:
            raise RecsmithError(f"run {run.path} has no models to show")

        def loader(name: str) -> Callable[[], Engine]:
            def load() -> Engine:
                model = run.load_model(name)
                manifest = {"version": f"{run.path.name}/{name}", "model": {"name": model.name, "config": {}}}
                bundle = Bundle(run.path, manifest, model, run.user_map, run.item_map, run.items, index=None)
                return Engine(bundle).warm()

            return load

        # models that explain their recommendations first: the page opens on the first one
        models = sorted(run.models, key=lambda m: "explanations" not in model_abilities(run, m))
        return cls(
            title=f"run {run.path}",
            user_map=run.user_map,
            item_map=run.item_map,
            items=run.items,
            loaders={name: loader(name) for name in models},
            run=run,
            image_root=run.dataset_root,
        )

    @classmethod
    def from_bundles(cls, paths: list[str | Path]) -> AppSource:
        """Bundles of one catalogue (``recsmith export``), e.g. two models to compare."""
        if not paths:
            raise RecsmithError("give at least one bundle directory")
        manifests = {}
        for path in paths:
            manifest_file = Path(path) / "manifest.json"
            if not manifest_file.is_file():
                raise RecsmithError(
                    f"{path} is not a model bundle (no manifest.json); create one with `recsmith export`"
                )
            manifests[Path(path)] = manifest_file.read_text()
        first = Bundle.load(paths[0])
        engines: dict[str, Callable[[], Engine]] = {}
        for path in manifests:
            loaded = first if path == Path(paths[0]) else None
            name = _unique(engines, f"{path.name}")
            engines[name] = functools.partial(_warm_engine, first, path, loaded)
        return cls(
            title="bundles " + ", ".join(str(p) for p in manifests),
            user_map=first.user_map,
            item_map=first.item_map,
            items=first.items,
            loaders=engines,
            image_root=Path(paths[0]),
        )

    # ------------------------------------------------------------------ models
    @property
    def model_names(self) -> list[str]:
        return list(self.loaders)

    def warm(self) -> None:
        """Start loading every model in the background."""
        for name in self.loaders:
            self._future(name)

    def engine(self, name: str) -> Engine:
        """The engine of model ``name`` (waits while it loads)."""
        if name not in self.loaders:
            raise RecsmithError(f"no model {name!r} here; models: {', '.join(self.loaders)}")
        return self._future(name).result()

    def is_loaded(self, name: str) -> bool:
        future = self._engines.get(name)
        return future is not None and future.done()

    def _future(self, name: str) -> Future:
        with self._lock:
            if name not in self._engines:
                self._engines[name] = self._pool.submit(self.loaders[name])
            return self._engines[name]

    # ------------------------------------------------------------------ catalogue
    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @cached_property
    def names(self) -> dict[int, str]:
        """Internal item id -> display name, from the item table's ``name`` column."""
        if self.run is not None:
            return self.run.item_names
        if self.items is None or Columns.Name not in self.items.columns:
            return {}
        return {
            int(i): n
            for i, n in zip(self.items[Columns.Item].to_list(), self.items[Columns.Name].to_list())
            if n is not None
        }

    @cached_property
    def images(self) -> dict[int, Path]:
        """Internal item id -> local image file, from the item table's ``image`` column (relative paths
        resolved against the dataset). URLs are left out: the app never reaches the network."""
        if self.items is None or IMAGE_COLUMN not in self.items.columns:
            return {}
        out = {}
        for i, p in zip(self.items[Columns.Item].to_list(), self.items[IMAGE_COLUMN].cast(pl.Utf8).to_list()):
            if p and "://" not in p:
                path = Path(p) if Path(p).is_absolute() or self.image_root is None else self.image_root / p
                if path.is_file():
                    out[int(i)] = path
        return out

    def internal_user(self, user_id: str) -> int:
        return int(self.user_map.to_internal([user_id], strict=False)[0])

    def internal_items(self, item_ids: list[str]) -> np.ndarray:
        return self.item_map.to_internal(item_ids, strict=False)

    def sample_users(self, n: int = 200) -> list[str]:
        """``n`` user ids spread over the id range (the picker's list; any id can be typed)."""
        picks = np.unique(np.linspace(0, self.n_users - 1, min(n, self.n_users)).astype(np.int64))
        return self.user_map.to_external(picks) if self.n_users else []

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _unique(taken: dict[str, Any], name: str) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}-{n}", n + 1
    return out


def _same_catalogue(first: Bundle, path: Path) -> Bundle:
    bundle = Bundle.load(path)
    if bundle.item_map != first.item_map or bundle.user_map != first.user_map:
        raise RecsmithError(
            f"bundle {path} has other user / item ids than {first.path}: the app compares one catalogue"
        )
    return bundle


def _warm_engine(first: Bundle, path: Path, loaded: Bundle | None) -> Engine:
    """An engine over bundle ``path`` (``loaded`` when it is already in memory), warmed up."""
    return Engine(loaded if loaded is not None else _same_catalogue(first, path)).warm()
