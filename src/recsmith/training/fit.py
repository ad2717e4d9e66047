"""Fit any recommender: a torch model through the Trainer, any other through its own ``fit``.

    from recsmith.training import fit_model
    model = fit_model(create_model("sasrec", {"dim": 64}), train, valid, train_config={"epochs": 30})

What composite models (a hybrid's parts, a two-stage model's retrievers) and pipelines call when
they do not care which kind of model they hold.
"""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError
from recsmith.models.base import Recommender
from recsmith.models.torch_base import TorchRecommender
from recsmith.training.config import TrainConfig, resolve_train_config


def fit_model(
    model: Recommender,
    train: Interactions,
    valid: Interactions | None = None,
    *,
    train_config: TrainConfig | dict[str, Any] | None = None,
    exclude: sp.csr_matrix | None = None,
) -> Recommender:
    """Fit ``model`` on ``train`` and return it.

    A torch model trains under ``train_config``: a resolved :class:`TrainConfig`, or a dict of
    overrides merged over the model's own training defaults (``None``: the defaults), in memory (no
    checkpoints), early-stopping on ``valid`` when given. Other models ignore ``valid`` and refuse a
    ``train_config``: they have no training loop to configure.
    """
    if not isinstance(model, TorchRecommender):
        if train_config:
            raise ConfigError(f"{model.name!r} is not trained by the Trainer: it takes no train config")
        return model.fit(train)
    from recsmith.training.trainer import Trainer

    if not isinstance(train_config, TrainConfig):
        train_config = resolve_train_config(model, overrides=train_config or {})
    Trainer(train_config.in_memory()).fit(model, train, valid, exclude=exclude)
    return model
