"""The leaderboard protocol for torch models (early stopping on validation, refit for the best epoch
count) and model aliases (two set-ups of one registered model in one run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsmith.config import load_config
from recsmith.data.prepare import prepare, read_source
from recsmith.errors import ConfigError
from recsmith.pipelines.benchmark import run_benchmark

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


@pytest.fixture(scope="module")
def dataset():
    cfg = load_config(
        CONFIG,
        overrides=["data.options.n_customers=300", "data.options.n_articles=120", "data.options.n_transactions=4000"],
    )
    return prepare(read_source(cfg.data), cfg.data)


def _cfg(extra: list[str]):
    base = [
        "train.epochs=6",
        "train.threads=1",
        "train.tracking.mlflow=false",
        "train.early_stopping.patience=1",
        "train.loss.name=softmax",
        "train.batch_size=64",
    ]
    return load_config(CONFIG, overrides=[*base, *extra])


def test_torch_model_early_stops_then_refits_for_the_best_epoch(dataset, tmp_path):
    cfg = _cfg(["models.gru4rec.dim=16", "models.gru4rec.max_len=10"])
    board = run_benchmark(dataset, cfg, ["gru4rec"], tmp_path / "run")
    tuning = board["gru4rec"]["tuning"][0]
    assert 1 <= tuning["best_epoch"] <= 6
    history = [json.loads(line) for line in (tmp_path / "run/models/gru4rec/metrics.jsonl").read_text().splitlines()]
    assert len(history) == tuning["best_epoch"]  # the refit ran exactly the best epoch count
    assert all("valid/ndcg@10" not in h for h in history)  # ... without validation
    assert board["gru4rec"]["total_seconds"] >= board["gru4rec"]["fit_seconds"] > 0


def test_aliases_run_one_model_twice(dataset, tmp_path):
    cfg = _cfg(["models.small={model: sasrec, dim: 8, max_len: 5}", "models.big={model: sasrec, dim: 16, max_len: 10}"])
    board = run_benchmark(dataset, cfg, ["small", "big"], tmp_path / "run")
    assert set(board) == {"small", "big"}
    saved = {n: json.loads((tmp_path / f"run/models/{n}/config.json").read_text()) for n in board}
    assert saved["small"]["model"] == saved["big"]["model"] == "sasrec"
    assert saved["small"]["config"]["dim"] == 8 and saved["big"]["config"]["dim"] == 16
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        run_benchmark(dataset, _cfg(["models.x={model: nope}"]), ["x"], tmp_path / "bad")
