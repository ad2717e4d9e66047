"""The demo: synthetic H&M-like data -> prepare -> split -> baselines -> leaderboard -> sample recommendations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsmith.config import RunConfig
from recsmith.data.prepare import prepare, read_source
from recsmith.data.schema import Columns
from recsmith.pipelines.benchmark import run_benchmark
from recsmith.pipelines.builder import check_models
from recsmith.runs.recommend import load_run, recommend_users
from recsmith.utils.logging import log


@dataclass
class DemoResult:
    leaderboard: dict[str, dict[str, Any]]
    best_model: str
    recommendations: list[dict[str, Any]]
    histories: dict[str, list[str]]
    run_dir: Path


def run_demo(cfg: RunConfig, models: list[str], out: str | Path, n_users: int = 3, k: int = 10) -> DemoResult:
    out = Path(out)
    check_models(cfg, models)  # before generating the data
    log(f"generating and preparing data from source {cfg.data.source!r}")
    dataset = prepare(read_source(cfg.data), cfg.data)
    dataset.save(out / "data", overwrite=True)
    log(f"prepared {len(dataset.interactions)} interactions, {dataset.n_users} users, {dataset.n_items} items")
    board = run_benchmark(dataset, cfg, models, out / "run", dataset_path=out / "data", overwrite=True)
    select = cfg.evaluation.select_metric
    # chosen on validation: picking by test numbers would be selection on the test set
    best = max(board, key=lambda m: board[m]["valid"].get(select, float("-inf")))

    # three users with a real history, chosen deterministically by the seed
    frame = dataset.interactions.frame
    counts = frame.group_by(Columns.User).len()
    pool = np.sort(counts.filter(counts["len"] >= 5)[Columns.User].to_numpy())
    chosen = np.random.default_rng(cfg.seed).choice(pool, size=min(n_users, len(pool)), replace=False)
    external = dataset.user_map.to_external(np.sort(chosen))
    run = load_run(out / "run")
    recs = recommend_users(run, run.load_model(best), external, k)
    histories = {}
    for u, ext in zip(np.sort(chosen), external):
        last = frame.filter(frame[Columns.User] == int(u))[Columns.Item].to_numpy()[-3:]
        histories[ext] = [n or e for n, e in zip(dataset.item_names(last), dataset.item_map.to_external(last))]
    return DemoResult(board, best, recs, histories, out)
