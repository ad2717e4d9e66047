"""Read a run directory (:mod:`recsmith.runs.layout`) into what a report needs.

A leaderboard run keeps per-user metrics, top-K lists and the split in ``eval/`` and ``split/``
(:mod:`recsmith.evaluation.store`), so nothing else is read. A run without them (a ``recsmith
train`` run, or a leaderboard written before they existed) is *re-evaluated in memory*: its saved
models are loaded and scored again on the split recomputed from the prepared dataset named in
``run.json`` (the run directory is not modified). Training curves come from any ``metrics.jsonl``
in the run (the Trainer's log).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.config import RunConfig
from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.evaluation import evaluate
from recsmith.evaluation.analysis import ModelEval
from recsmith.evaluation.store import has_evaluations, load_evaluation, load_manifest, load_split
from recsmith.runs.layout import Run, model_dir
from recsmith.utils.logging import log

METRICS_LOG = "metrics.jsonl"


@dataclass
class RunData:
    """A leaderboard run, loaded: leaderboard, config, per-model evaluations, split and items."""

    path: Path
    name: str  # the run directory's name
    board: dict[str, Any]
    info: dict[str, Any]
    cfg: RunConfig
    ks: list[int]
    filter_seen: bool
    evals: dict[str, ModelEval]
    train: Interactions  # what the test-time models were fitted on
    test: Interactions
    items: pl.DataFrame | None = None
    curves: dict[str, pl.DataFrame] = field(default_factory=dict)
    recomputed: bool = False

    @property
    def models(self) -> list[str]:
        return list(self.evals)

    @property
    def dataset_name(self) -> str | None:
        return (self.info.get("dataset") or {}).get("name")


def load_run(path: str | Path) -> RunData:
    """Load ``path`` (see the module docstring); :class:`RecsmithError` if it is not a run."""
    path = Path(path)
    run = Run.open(path)
    board = run.board()
    if not board:
        raise RecsmithError(f"{path} holds no finished model (no leaderboard.json or results.json): nothing to report")
    info, cfg, items = run.info, run.config(), run.items
    name = path.resolve().name
    curves = _training_curves(path)
    if has_evaluations(path):
        manifest = load_manifest(path)
        evals = {m: load_evaluation(path, m) for m in manifest["models"]}
        train, test = load_split(path, manifest)
        return RunData(
            path, name, board, info, cfg, manifest["ks"], manifest["filter_seen"], evals, train, test, items, curves
        )
    evals, train, test = _reevaluate(path, board, info, cfg)
    return RunData(
        path,
        name,
        board,
        info,
        cfg,
        list(cfg.evaluation.ks),
        cfg.evaluation.filter_seen,
        evals,
        train,
        test,
        items,
        curves,
        recomputed=True,
    )


def _reevaluate(
    path: Path, board: dict[str, Any], info: dict[str, Any], cfg: RunConfig
) -> tuple[dict[str, ModelEval], Interactions, Interactions]:
    """Score the run's saved models again on its split (for runs without ``eval/``)."""
    from recsmith.data.dataset import Dataset
    from recsmith.data.splits import split
    from recsmith.models.base import Recommender

    data_path = (info.get("dataset") or {}).get("path")
    if not data_path or not Path(data_path).is_dir():
        raise RecsmithError(
            f"{path} has no eval/ (written by an older recsmith) and its dataset {data_path!r} is not "
            "available to re-evaluate it; re-run `recsmith benchmark`"
        )
    log(f"{path}: no stored evaluations; re-evaluating its saved models on {data_path}")
    dataset = Dataset.load(data_path)
    parts = split(dataset.interactions, cfg.split)
    ev = cfg.evaluation
    evals = {}
    for name in board:
        saved = model_dir(path, name)
        if not saved.is_dir():
            continue
        model = Recommender.load(saved)
        result = evaluate(
            model,
            parts.test,
            ev.ks,
            filter_seen=ev.filter_seen,
            batch_size=ev.batch_size,
            return_per_user=True,
            return_lists=True,
        )
        evals[name] = ModelEval.from_result(result)
    return evals, parts.train_full(), parts.test


def _training_curves(path: Path) -> dict[str, pl.DataFrame]:
    """``{label: frame}`` for every ``metrics.jsonl`` in the run (at most three levels down).

    Lines that are not JSON objects, and the final ``{"final": ...}`` summary line, are skipped;
    columns are the numeric keys (nested dicts flattened with ``/``).
    """
    out: dict[str, pl.DataFrame] = {}
    files = sorted(p for depth in ("", "*/", "*/*/", "*/*/*/") for p in path.glob(f"{depth}{METRICS_LOG}"))
    for file in files:
        rows = []
        for line in file.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or set(record) == {"final"}:
                continue
            flat = _numeric_leaves(record)
            if flat:
                rows.append(flat)
        if rows:
            label = str(file.parent.relative_to(path)) if file.parent != path else "run"
            out[label] = pl.DataFrame(rows, infer_schema_length=None)
    return out


def _numeric_leaves(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_numeric_leaves(value, f"{name}/"))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and np.isfinite(value):
            out[name] = float(value)
    return out
