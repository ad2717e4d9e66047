"""The one training engine of every torch model.

========================  ===========================================================================
module                    what it owns
========================  ===========================================================================
``config``                ``TrainConfig``: every option, pydantic, no torch import
``trainer``               ``Trainer.fit(model, train, valid)``: the loop (read it top to bottom)
``fit``                   ``fit_model(model, train, ...)``: any model, torch ones through the Trainer
``optim``                 optimizers and schedules by name, weight-decay groups, gradient clipping
``early_stopping``        monitor / mode / patience / min_delta, best weights
``checkpoint``            atomic ``last.pt`` (model, optimizer, scheduler, scaler, RNG) and ``best-<epoch>.pt``
``tracking``              ``metrics.jsonl`` always, MLflow (local file store) when enabled
``distributed``           torchrun / DDP: gloo on CPU, nccl on GPU; a no-op in one process
``lr_finder``             the learning-rate range test (``recsmith lr-find``: :mod:`recsmith.pipelines.lr_find`)
``scaling``               embedding dimension from a power law in (dim, data size) (``recsmith scaling``:
                          :mod:`recsmith.pipelines.scaling`)
========================  ===========================================================================

Importing this package stays light: torch is imported by the modules that need it.
"""

from __future__ import annotations

from typing import Any

from recsmith.training.config import TrainConfig

__all__ = ["TrainConfig", "Trainer", "fit_model"]


def __getattr__(name: str) -> Any:  # lazy: `from recsmith.training import Trainer` imports torch
    if name == "Trainer":
        from recsmith.training.trainer import Trainer

        return Trainer
    if name == "fit_model":
        from recsmith.training.fit import fit_model

        return fit_model
    raise AttributeError(name)
