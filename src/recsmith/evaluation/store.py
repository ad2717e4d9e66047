"""Evaluation results on disk: what a run directory keeps so that reports need nothing else.

Layout inside a run directory (written by the leaderboard, read by ``recsmith report``)::

    RUN/
      eval/manifest.json     {"format_version", "ks", "k_max", "filter_seen", "n_users", "n_items",
                              "models": [...], "fitted_on": ["train", "valid"]}
      eval/<model>.parquet   user:int32, recs:array[int32, k_max] (best first, -1 pads),
                             then one float64 column per per-user test metric ("ndcg@10", ...)
      split/train.parquet    the split's parts as interactions (user, item, timestamp, weight)
      split/valid.parquet    (when the split has one)
      split/test.parquet

Test-time models are fitted on ``fitted_on`` (train + validation for the leaderboard), which is
what popularity, seen items and slices are computed from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.splits import Split
from recsmith.errors import RecsmithError
from recsmith.evaluation.analysis import ModelEval

FORMAT_VERSION = 1
EVAL_DIR, SPLIT_DIR, MANIFEST = "eval", "split", "manifest.json"
RECS = "recs"


def save_evaluations(
    run_dir: str | Path,
    evals: dict[str, ModelEval],
    parts: Split,
    *,
    ks: list[int],
    filter_seen: bool,
) -> None:
    """Write ``eval/`` and ``split/`` into ``run_dir`` (a directory being built, e.g. atomically)."""
    run_dir = Path(run_dir)
    (run_dir / EVAL_DIR).mkdir(parents=True, exist_ok=True)
    (run_dir / SPLIT_DIR).mkdir(parents=True, exist_ok=True)
    for name, ev in evals.items():
        _frame(ev).write_parquet(run_dir / EVAL_DIR / f"{name}.parquet")
    fitted_on = ["train"]
    parts.train.frame.write_parquet(run_dir / SPLIT_DIR / "train.parquet")
    if parts.valid is not None:
        parts.valid.frame.write_parquet(run_dir / SPLIT_DIR / "valid.parquet")
        fitted_on.append("valid")
    parts.test.frame.write_parquet(run_dir / SPLIT_DIR / "test.parquet")
    manifest = {
        "format_version": FORMAT_VERSION,
        "ks": list(ks),
        "k_max": max(ks),
        "filter_seen": filter_seen,
        "n_users": parts.test.n_users,
        "n_items": parts.test.n_items,
        "models": list(evals),
        "fitted_on": fitted_on,
    }
    (run_dir / EVAL_DIR / MANIFEST).write_text(json.dumps(manifest, indent=2))


def _frame(ev: ModelEval) -> pl.DataFrame:
    lists = np.asarray(ev.lists, dtype=np.int32)
    cols: dict[str, Any] = {
        Columns.User: pl.Series(Columns.User, ev.users.astype(np.int32)),
        RECS: pl.Series(RECS, lists, dtype=pl.Array(pl.Int32, lists.shape[1])),
    }
    cols.update({k: pl.Series(k, np.asarray(v, dtype=np.float64)) for k, v in ev.per_user.items()})
    return pl.DataFrame(cols)


def has_evaluations(run_dir: str | Path) -> bool:
    return (Path(run_dir) / EVAL_DIR / MANIFEST).is_file()


def load_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / EVAL_DIR / MANIFEST
    if not path.is_file():
        raise RecsmithError(f"{run_dir} has no {EVAL_DIR}/{MANIFEST}: it was written before evaluations were stored")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RecsmithError(f"{path}: unsupported evaluation format {manifest.get('format_version')!r}")
    return manifest


def load_evaluation(run_dir: str | Path, model: str) -> ModelEval:
    frame = pl.read_parquet(Path(run_dir) / EVAL_DIR / f"{model}.parquet")
    users = frame[Columns.User].to_numpy().astype(np.int64)
    lists = frame[RECS].to_numpy().astype(np.int64).reshape(frame.height, -1)
    per_user = {c: frame[c].to_numpy().astype(np.float64) for c in frame.columns if c not in (Columns.User, RECS)}
    return ModelEval(users, lists, per_user)


def load_split(run_dir: str | Path, manifest: dict[str, Any]) -> tuple[Interactions, Interactions]:
    """``(fitted_on, test)``: the data the test-time models saw, and the test part."""
    folder = Path(run_dir) / SPLIT_DIR
    n_users, n_items = manifest["n_users"], manifest["n_items"]
    train = pl.concat([pl.read_parquet(folder / f"{part}.parquet") for part in manifest["fitted_on"]])
    test = pl.read_parquet(folder / "test.parquet")
    return Interactions(train, n_users, n_items), Interactions(test, n_users, n_items)
