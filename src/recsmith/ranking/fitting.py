"""Fitting the retrievers inside a two-stage model with the benchmark's protocol in miniature: a
torch source early-stops on the ranker's holdout, and its refit on all the data runs for the best
epoch count found there. Plain models are fitted by their own ``fit``.

The two-stage model is fitted as one model, so the run's ``train`` section does not reach its
parts: a torch source trains under its own training defaults and the ``train`` overrides among its
params (as a hybrid's parts do), in memory (no checkpoints) and without MLflow tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsmith.data.interactions import Interactions
from recsmith.models.base import Recommender
from recsmith.models.torch_base import TorchRecommender
from recsmith.training.config import resolve_train_config
from recsmith.training.fit import fit_model
from recsmith.training.trainer import Trainer
from recsmith.utils.dicts import deep_merge


@dataclass
class SubModelFit:
    model: Recommender
    #: epochs a torch model trained for, the best one on ``valid`` when it early-stopped (else None)
    best_epoch: int | None


def fit_submodel(
    model: Recommender,
    train: Interactions,
    *,
    overrides: dict[str, Any] | None = None,
    valid: Interactions | None = None,
    epochs: int | None = None,
    seed: int = 0,
    prefix: list[str] | None = None,
) -> SubModelFit:
    """Fit ``model`` on ``train``. A torch model trains under its defaults and ``overrides``,
    early-stopping on ``valid`` or, with ``epochs``, for exactly that many epochs; ``seed`` unless
    the overrides set one. ``prefix`` names the overrides in errors."""
    if not isinstance(model, TorchRecommender):
        return SubModelFit(fit_model(model, train), None)
    update: dict[str, Any] = {"tracking": {"mlflow": False}}
    if epochs is not None:
        update.update({"epochs": epochs, "early_stopping": {"enabled": False}})
    cfg = resolve_train_config(model, overrides=deep_merge(overrides or {}, update), seed=seed, prefix=prefix)
    validating = epochs is None and valid is not None and len(valid) > 0
    result = Trainer(cfg.in_memory()).fit(model, train, valid if validating else None)
    return SubModelFit(model, (result.best_epoch or result.epochs_run) if epochs is None else None)
