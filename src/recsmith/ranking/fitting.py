"""Fitting the models inside a two-stage model: plain models by ``fit``, torch models by the one
:class:`~recsmith.training.trainer.Trainer`, with the benchmark's protocol in miniature: early
stopping on the ranker's holdout when it is given, a fixed epoch count (the best one found there)
for the refit on all the data.

The two-stage model is fitted as one model, so the run's ``train`` section does not reach its
parts: a torch source trains under its own defaults and the ``train`` overrides in its params.
Checkpoints and MLflow tracking are off (the parts of one model are not runs of their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from recsmith.data.interactions import Interactions
from recsmith.models.base import Recommender


@dataclass
class SubModelFit:
    model: Recommender
    #: the best epoch on ``valid`` of a torch model that early-stopped (None otherwise)
    best_epoch: int | None


def fit_submodel(
    model: Recommender,
    train: Interactions,
    *,
    valid: Interactions | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> SubModelFit:
    """Fit ``model`` on ``train``; a torch model early-stops on ``valid`` or runs ``epochs`` epochs
    (its training seed is ``seed`` unless its ``train`` overrides set one)."""
    from recsmith.models.torch_base import TorchRecommender

    if not isinstance(model, TorchRecommender):
        return SubModelFit(model.fit(train), None)
    from recsmith.training.trainer import Trainer

    cfg = submodel_train_config(model.train_config(), epochs=epochs, seed=seed)
    result = Trainer(cfg).fit(model, train, valid if epochs is None else None)
    best = result.best_epoch if valid is not None and len(valid) and epochs is None else None
    return SubModelFit(model, best or (result.epochs_run if epochs is None else None))


def submodel_train_config(cfg, *, epochs: int | None = None, seed: int = 0):
    """``cfg`` without checkpoints and tracking; with ``epochs``, that many and no early stopping."""
    from recsmith.training.config import TrainConfig
    from recsmith.utils.dicts import deep_merge

    update: dict = {"checkpoint": {"enabled": False}, "tracking": {"mlflow": False}}
    if cfg.seed is None:
        update["seed"] = seed
    if epochs is not None:
        update.update({"epochs": epochs, "early_stopping": {"enabled": False}})
    return TrainConfig.model_validate(deep_merge(cfg.model_dump(), update))
