"""The run directory: one layout for every run (``recsmith benchmark`` and ``recsmith train``), written
and read only through this module (by the two pipelines that write runs, and by ``recsmith export``,
``recsmith recommend`` and ``recsmith report``)::

    RUN/
      run.json          kind (benchmark | train), created, versions, dataset (path, name, counts),
                        split sizes, the models in the run
      config.yaml       the resolved run config
      dataset/          user_ids.parquet, item_ids.parquet (row i = internal id i) and items.parquet:
                        the run's external ids, so that a run is self-contained at the edges
      models/<name>/    each model, saved without pickle (config.json + state.npz), with
                        metrics.jsonl (its per-epoch training log) for models trained by the Trainer
      leaderboard.json  benchmark: per model valid / test metrics, params, timings, beyond-accuracy,
      leaderboard.md    intervals and comparisons (see :mod:`recsmith.pipelines.benchmark`)
      eval/, split/     benchmark: per-user test metrics, top-K lists, the split (evaluation.store)
      results.json      train: best epoch, valid / test metrics, the train config, timings, protocol
      checkpoints/, metrics.jsonl, mlflow.db, mlartifacts/, tracking.json
                        train: the Trainer's own files (what ``--resume`` continues from)
      cache/            embedding caches of the run's items (text / image search), written on demand

A benchmark run is written atomically (a temporary sibling renamed into place); a train run is
written in place while training (so that it can resume), its model and record files atomically.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recsmith import __version__
from recsmith.config import RunConfig, dump_config, load_config
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.schema import Columns
from recsmith.data.splits import Split
from recsmith.errors import RecsmithError
from recsmith.models.base import Recommender
from recsmith.utils.atomic import atomic_write_text

RunKind = Literal["benchmark", "train"]

INFO = "run.json"
CONFIG = "config.yaml"
DATASET = "dataset"
MODELS = "models"
LEADERBOARD = "leaderboard.json"
RESULTS = "results.json"
CACHE = "cache"
FEATURES = "features"
USER_IDS, ITEM_IDS, ITEMS = "user_ids.parquet", "item_ids.parquet", "items.parquet"


def model_dir(root: str | Path, name: str) -> Path:
    """Where model ``name`` of the run in ``root`` is saved."""
    return Path(root) / MODELS / name


def write_run_record(
    root: str | Path,
    *,
    kind: RunKind,
    dataset: Dataset,
    dataset_path: str | Path | None,
    cfg: RunConfig,
    parts: Split,
    models: list[str],
) -> None:
    """``run.json``, ``config.yaml`` and ``dataset/`` into ``root`` (each file atomically)."""
    root = Path(root)
    info = {
        "kind": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recsmith_version": __version__,
        "python": platform.python_version(),
        "dataset": {
            "path": str(Path(dataset_path).resolve()) if dataset_path else None,
            "name": dataset.manifest.get("name"),
            "counts": dataset.manifest.get("counts"),
        },
        "split": parts.summary(),
        "models": list(models),
    }
    atomic_write_text(root / CONFIG, dump_config(cfg))
    data_dir = root / DATASET
    data_dir.mkdir(parents=True, exist_ok=True)
    dataset.user_map.save(data_dir / USER_IDS)
    dataset.item_map.save(data_dir / ITEM_IDS)
    if dataset.items is not None:
        dataset.items.write_parquet(data_dir / ITEMS)
    atomic_write_text(root / INFO, json.dumps(info, indent=2))


def write_json(root: str | Path, name: str, value: Any) -> Path:
    """A record file of the run (``leaderboard.json``, ``results.json``), atomically."""
    path = Path(root) / name
    atomic_write_text(path, json.dumps(value, indent=2, default=float))
    return path


@dataclass
class Run:
    """A run directory opened for reading (see the module docstring for what is in it)."""

    path: Path
    info: dict[str, Any]
    user_map: IdMap
    item_map: IdMap
    #: the dataset's item table (``item`` + attributes), or None when the source had none
    items: pl.DataFrame | None = None
    item_names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> Run:
        path = Path(path)
        if not (path / INFO).is_file():
            hint = (
                " (a `recsmith train` run from before recsmith 0.2 has no run record: train it again)"
                if (path / RESULTS).is_file()
                else ""
            )
            raise RecsmithError(
                f"{path} is not a recsmith run directory (no {INFO}){hint}; create one with "
                "`recsmith benchmark` or `recsmith train`"
            )
        info = json.loads((path / INFO).read_text())
        data = path / DATASET
        items = pl.read_parquet(data / ITEMS) if (data / ITEMS).is_file() else None
        names: dict[int, str] = {}
        if items is not None and Columns.Name in items.columns:
            names = {
                i: n for i, n in zip(items[Columns.Item].to_list(), items[Columns.Name].to_list()) if n is not None
            }
        return cls(
            path=path,
            info=info,
            user_map=IdMap.load(data / USER_IDS, kind="user"),
            item_map=IdMap.load(data / ITEM_IDS, kind="item"),
            items=items,
            item_names=names,
        )

    # ------------------------------------------------------------------ what the run holds
    @property
    def kind(self) -> RunKind:
        return self.info.get("kind", "benchmark")  # runs before 0.2 were all leaderboards

    @property
    def models(self) -> list[str]:
        return list(self.info.get("models", []))

    def model_name(self, name: str | None) -> str:
        """``name``, or the run's only model when ``name`` is None; an error lists the models."""
        listed = ", ".join(self.models) or "none"
        if name is None:
            if len(self.models) != 1:
                raise RecsmithError(f"run {self.path} has {len(self.models)} models ({listed}): pass --model NAME")
            return self.models[0]
        if not model_dir(self.path, name).is_dir():
            raise RecsmithError(f"run {self.path} has no model {name!r}; models in this run: {listed}")
        return name

    def load_model(self, name: str | None = None) -> Recommender:
        return Recommender.load(model_dir(self.path, self.model_name(name)))

    def config(self) -> RunConfig:
        return load_config(self.path / CONFIG) if (self.path / CONFIG).is_file() else RunConfig()

    def board(self) -> dict[str, dict[str, Any]]:
        """Per model: ``valid`` / ``test`` metrics, ``params``, ``fit_seconds`` (and, for a benchmark,
        the rest of its leaderboard entry)."""
        if (self.path / LEADERBOARD).is_file():
            return json.loads((self.path / LEADERBOARD).read_text())
        if (self.path / RESULTS).is_file():
            results = json.loads((self.path / RESULTS).read_text())
            entry = {k: results.get(k) for k in ("valid", "test", "params", "best_epoch", "train")}
            return {results["model"]: {**entry, "fit_seconds": results.get("train_seconds")}}
        return {}

    @property
    def dataset_root(self) -> Path:
        """The prepared dataset the run was made from (relative image paths resolve against it),
        else the run's own ``dataset/``."""
        recorded = (self.info.get("dataset") or {}).get("path")
        return Path(recorded) if recorded and Path(recorded).is_dir() else self.path / DATASET

    @property
    def features_dir(self) -> Path | None:
        """``RUN/features``, else the feature store of the run's prepared dataset, if any."""
        candidates = [self.path / FEATURES]
        recorded = (self.info.get("dataset") or {}).get("path")
        if recorded:
            candidates.append(Path(recorded) / FEATURES)
        return next((c for c in candidates if (c / "manifest.json").is_file()), None)

    @property
    def cache_dir(self) -> Path:
        """Where the run's item embeddings are cached (text / image search)."""
        return self.path / CACHE
