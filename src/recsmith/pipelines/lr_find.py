"""``recsmith lr-find``: the learning-rate range test of a run's torch model on its training split.

The test itself (ramp, smoothing, suggestion) is :mod:`recsmith.training.lr_finder`; this pipeline
builds the model as every other pipeline does (:mod:`recsmith.pipelines.builder`: aliases, side data,
the model's training options) and writes ``lr_find.png`` and ``lr_find.json`` into ``out``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from recsmith.config import RunConfig
from recsmith.data.dataset import Dataset
from recsmith.data.splits import split
from recsmith.pipelines.builder import build_model, side_data, torch_entry
from recsmith.training.lr_finder import LRFinderResult, find_lr
from recsmith.utils.atomic import atomic_write_text


def run_lr_find(
    dataset: Dataset,
    cfg: RunConfig,
    out: str | Path,
    *,
    model_name: str | None = None,
    start_lr: float = 1e-6,
    end_lr: float = 10.0,
    steps: int = 100,
    dataset_path: str | Path | None = None,
) -> LRFinderResult:
    """The range test of the config's torch model on its training split; writes ``lr_find.png`` / ``.json``."""
    name = torch_entry(cfg, model_name)
    parts = split(dataset.interactions, cfg.split)
    model, train_cfg = build_model(cfg, name, side=side_data(dataset, dataset_path)).for_trainer()
    result = find_lr(model, parts.train, train_cfg, start_lr=start_lr, end_lr=end_lr, num_steps=steps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.plot(out / "lr_find.png")
    atomic_write_text(out / "lr_find.json", json.dumps({"model": name, **asdict(result)}, indent=2))
    return result
