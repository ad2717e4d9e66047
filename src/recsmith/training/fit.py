"""Fit any recommender: a torch model through the Trainer, any other through its own ``fit``.

    from recsmith.training import fit_model
    model = fit_model(create_model("sasrec", {"dim": 64}), train, valid, train_config={"epochs": 30})

What composite models (a hybrid's parts, a two-stage model's retrievers) and pipelines call when
they do not care which kind of model they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError
from recsmith.models.base import Recommender
from recsmith.models.torch_base import TorchRecommender
from recsmith.training.config import TrainConfig, resolve_train_config

if TYPE_CHECKING:
    from recsmith.training.trainer import EpochCallback


def fit_model(
    model: Recommender,
    train: Interactions,
    valid: Interactions | None = None,
    *,
    train_config: TrainConfig | dict[str, Any] | None = None,
    exclude: sp.csr_matrix | None = None,
    on_epoch_end: "Sequence[EpochCallback]" = (),
) -> Recommender:
    """Fit ``model`` on ``train`` and return it.

    A torch model trains under ``train_config``: a resolved :class:`TrainConfig`, or a dict of
    overrides merged over the model's own training defaults (``None``: the defaults), in memory (no
    checkpoints), early-stopping on ``valid`` when given, calling ``on_epoch_end`` after each epoch
    (:class:`~recsmith.training.trainer.Trainer`). Other models ignore ``valid`` and ``on_epoch_end``
    and refuse a ``train_config``: they have no training loop to configure.
    """
    if not isinstance(model, TorchRecommender):
        if train_config:
            raise ConfigError(f"{model.name!r} is not trained by the Trainer: it takes no train config")
        return model.fit(train)
    from recsmith.training.trainer import Trainer

    if not isinstance(train_config, TrainConfig):
        train_config = resolve_train_config(model, overrides=train_config or {})
    Trainer(train_config.in_memory(), on_epoch_end=on_epoch_end).fit(model, train, valid, exclude=exclude)
    return model
