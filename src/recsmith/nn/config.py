"""The ``train.loss`` and ``train.sampler`` sections: the objective of torch models and its negative
items, declared beside the layer that implements them (:mod:`recsmith.nn.objectives`,
:mod:`recsmith.nn.losses`, :mod:`recsmith.nn.samplers`). :mod:`recsmith.training.config` assembles
them into the Trainer's ``TrainConfig``. No torch import here (loading a config stays fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LossConfig(_Section):
    """The objective. Losses and samplers live apart from models (see :mod:`recsmith.nn.objectives`)."""

    name: Literal["softmax", "sampled_softmax", "bce", "gbce", "bpr", "infonce", "mse", "network_loss"] = "bpr"
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="softmax / sampled_softmax / infonce: share of the target spread over "
        "all candidates; mse: targets shrunk toward the mean rating by this share",
    )
    temperature: float = Field(1.0, gt=0, description="softmax / sampled_softmax / infonce: logits / temperature")
    logq_correction: bool = Field(
        True, description="sampled_softmax / infonce: subtract log(sampling probability) from each logit"
    )
    gbce_t: float = Field(0.75, ge=0, le=1, description="gbce: calibration t (0 = BCE, 1 = fully calibrated)")


class SamplerConfig(_Section):
    """Negative items for the sampled losses (bce, gbce, bpr, sampled_softmax)."""

    name: Literal["uniform", "popularity", "in_batch", "hard"] = "uniform"
    n_negatives: int = Field(1, ge=1, description="negatives per example (shared by the batch for sampled_softmax)")
    exponent: float = Field(0.75, ge=0, description="popularity: P(item) ~ count ** exponent")
    hard_ratio: float = Field(0.5, ge=0, le=1, description="hard: share of negatives mined, the rest random")
    hard_pool: int = Field(50, ge=1, description="hard: highest-scored non-positives kept per user")
    refresh_every: int = Field(100, ge=1, description="hard: optimizer steps between re-scoring the pools")
    hard_base: Literal["uniform", "popularity"] = Field("uniform", description="hard: sampler of the random part")
