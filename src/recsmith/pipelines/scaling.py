"""``recsmith scaling``: the embedding dimension of a run's torch model from a scaling law.

Trains the model over ``dims`` x ``fractions`` of the training data (each run early-stopped on
validation), fits the law of :mod:`recsmith.training.scaling` and writes ``scaling.{json,md,png}``.
The model is built as every other pipeline builds it (:mod:`recsmith.pipelines.builder`).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from recsmith.config import RunConfig
from recsmith.data.dataset import Dataset
from recsmith.data.splits import split
from recsmith.errors import ConfigError
from recsmith.models.registry import get_model_class
from recsmith.pipelines.builder import build_model, registered_name, side_data, torch_entry
from recsmith.training.config import TrainConfig
from recsmith.training.scaling import (
    ScalingPoint,
    ScalingReport,
    budget,
    candidates_per_example,
    fit_power_law,
    subsample,
    suggest_dim,
)
from recsmith.utils.atomic import atomic_dir, check_output
from recsmith.utils.logging import log


def run_scaling(
    dataset: Dataset,
    cfg: RunConfig,
    out: str | Path,
    *,
    dims: list[int],
    fractions: list[float],
    model_name: str | None = None,
    tolerance: float = 0.02,
    overwrite: bool = False,
    dataset_path: str | Path | None = None,
) -> ScalingReport:
    """Train ``len(dims) * len(fractions)`` models, fit the law, write ``scaling.{json,md,png}`` into ``out``."""
    from recsmith.training.trainer import Trainer

    name = torch_entry(cfg, model_name)
    if "dim" not in get_model_class(registered_name(cfg, name)).Config.model_fields:
        raise ConfigError(f"model {name!r} has no 'dim' hyperparameter to scale")
    if not dims or min(dims) < 1 or not fractions or not all(0 < f <= 1 for f in fractions):
        raise ConfigError("--dims must be positive integers and --fractions numbers in (0, 1]")
    if len(dims) * len(fractions) < 5:
        raise ConfigError("the power law has 5 parameters: give at least 5 (dim, fraction) combinations")
    parts = split(dataset.interactions, cfg.split)
    if parts.valid is None or len(parts.valid) == 0:
        raise ConfigError("scaling scores each run on validation: set split.valid=true")
    out = Path(out)
    check_output(out, overwrite=overwrite)

    side = side_data(dataset, dataset_path)
    points: list[ScalingPoint] = []
    train_cfg: TrainConfig | None = None
    for fraction in sorted(fractions):
        train = subsample(parts.train, fraction, cfg.seed)
        for dim in sorted(dims):
            model, model_train_cfg = build_model(
                cfg, name, {**cfg.model_params(name), "dim": dim}, side=side
            ).for_trainer()
            # as many optimizer steps as on the full data, so that small fractions are not undertrained
            epochs = math.ceil(model_train_cfg.epochs / fraction)
            train_cfg = model_train_cfg.model_copy(update={"epochs": epochs}).in_memory()
            start = time.perf_counter()
            result = Trainer(train_cfg).fit(model, train, parts.valid, exclude=parts.train.binary)
            value = result.best_value
            if value is None:  # no early stopping: the monitored metric of the last epoch
                value = result.best.get(result.monitor, math.nan) if result.monitor is not None else math.nan
            points.append(
                ScalingPoint(
                    dim,
                    fraction,
                    len(train),
                    float(value),
                    result.best_epoch,
                    result.epochs_run,
                    time.perf_counter() - start,
                )
            )
            log(
                f"scaling: dim {dim}, {fraction:g} of train ({len(train)}): {train_cfg.early_stopping.monitor} {value:.4f}"
            )

    assert train_cfg is not None  # the loops ran: dims and fractions are not empty (checked above)
    monitor = train_cfg.early_stopping.monitor
    sign = 1.0 if train_cfg.early_stopping.mode == "max" else -1.0
    loss = np.array([1 - p.value if sign > 0 else p.value for p in points])
    law = fit_power_law(np.array([p.dim for p in points]), np.array([p.n_train for p in points]), loss)
    n_full = len(parts.train)
    suggested = suggest_dim(law, n_full, tolerance)
    candidates = candidates_per_example(train_cfg, dataset.n_items)
    report = ScalingReport(name, monitor, n_full, candidates, points, law, tolerance, suggested)
    if suggested is not None:
        report.budget = budget(points, suggested, n_full, candidates)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "scaling.json").write_text(json.dumps(report.to_json(), indent=2))
        (tmp / "scaling.md").write_text(
            f"# Scaling: {name}, validation {monitor}\n\n{report.markdown_table()}\n\n"
            f"```\n{report.suggestion_text()}\n```\n"
        )
        report.plot(tmp / "scaling.png")
    return report
