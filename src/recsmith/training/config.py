"""The ``train`` section of a run config: every option of the one :class:`~recsmith.training.Trainer`.

Declared once, here, without importing torch (so that loading a config stays fast). YAML example::

    train:
      epochs: 30
      batch_size: 2048
      optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
      scheduler: {name: cosine, warmup_fraction: 0.05}
      loss: {name: sampled_softmax}
      sampler: {name: popularity, n_negatives: 256, exponent: 0.75}
      amp: bf16
      early_stopping: {monitor: ndcg@10, patience: 3}

and on the command line ``--set train.optimizer.lr=0.01 --set train.amp=off``. A torch model may
carry its own overrides under ``models.<name>.train``, and declares its own defaults
(:meth:`~recsmith.models.torch_base.TorchRecommender.training_defaults`); :func:`resolve_train_config`
merges them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recsmith.errors import ConfigError
from recsmith.nn.config import LossConfig, SamplerConfig
from recsmith.utils.dicts import deep_merge
from recsmith.utils.validation import describe_errors

if TYPE_CHECKING:
    from recsmith.models.torch_base import TorchRecommender


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamGroupConfig(_Section):
    """Parameters whose name matches ``params`` get their own learning rate / weight decay."""

    params: str = Field(description="glob over parameter names, e.g. 'encoder.*' (first matching group wins)")
    lr: float | None = Field(None, gt=0, description="learning rate of this group (default: optimizer.lr)")
    weight_decay: float | None = Field(None, ge=0, description="weight decay of this group (default: optimizer's)")


class OptimizerConfig(_Section):
    name: Literal["adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam"] = "adam"
    lr: float = Field(1e-3, gt=0, description="learning rate (the peak rate for onecycle / warmup schedules)")
    weight_decay: float = Field(
        0.0, ge=0, description="L2 (adam, sgd, ...) or decoupled (adamw) decay; never on biases and norms"
    )
    decay_embeddings: bool = Field(False, description="also decay embedding tables (usually off: rare ids shrink)")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd / rmsprop momentum")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum (needs momentum > 0)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam / adamw / sparse_adam")
    eps: float = Field(1e-8, gt=0)
    param_groups: list[ParamGroupConfig] = Field(
        default_factory=list, description="per-parameter-group learning rates, e.g. a pretrained encoder"
    )

    @model_validator(mode="after")
    def _check(self) -> "OptimizerConfig":
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer.name=sgd and optimizer.momentum > 0")
        if self.name == "sparse_adam" and (self.weight_decay > 0 or any(g.weight_decay for g in self.param_groups)):
            raise ValueError("sparse_adam has no weight decay; set optimizer.weight_decay=0 or use adam / adamw")
        return self


class SchedulerConfig(_Section):
    """Learning-rate schedule. All but reduce_on_plateau step once per optimizer step."""

    name: Literal["none", "onecycle", "cosine", "cosine_warm_restarts", "linear_warmup", "reduce_on_plateau"] = "none"
    warmup_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="cosine / linear_warmup / cosine_warm_restarts: share of all steps spent warming up",
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="cosine / linear_warmup / cosine_warm_restarts: final rate as a share of lr"
    )
    pct_start: float = Field(0.3, gt=0, lt=1, description="onecycle: share of steps rising to the peak")
    div_factor: float = Field(25.0, gt=0, description="onecycle: start rate = lr / div_factor")
    final_div_factor: float = Field(1e4, gt=0, description="onecycle: final rate = start rate / final_div_factor")
    restart_epochs: int = Field(1, ge=1, description="cosine_warm_restarts: length of the first cycle in epochs")
    restart_mult: int = Field(1, ge=1, description="cosine_warm_restarts: each cycle is this many times longer")
    plateau_factor: float = Field(0.5, gt=0, lt=1, description="reduce_on_plateau: multiply the rate by this")
    plateau_patience: int = Field(1, ge=0, description="reduce_on_plateau: epochs without improvement first")


class EarlyStoppingConfig(_Section):
    enabled: bool = Field(True, description="stop when the monitor stops improving (needs validation data)")
    monitor: str = Field("ndcg@10", description="validation metric, '<metric>@<k>' (see recsmith.evaluation)")
    mode: Literal["max", "min"] = "max"
    patience: int = Field(3, ge=0, description="validations without improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")
    restore_best: bool = Field(True, description="end with the weights of the best validation")

    @field_validator("monitor")
    @classmethod
    def _metric_at_k(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_]+@[1-9][0-9]*", value):
            raise ValueError(f"monitor must look like 'ndcg@10', got {value!r}")
        return value

    @property
    def k(self) -> int:
        return int(self.monitor.split("@")[1])


class ValidationConfig(_Section):
    every: int = Field(1, ge=1, description="validate every N epochs (and after the last one)")
    ks: list[int] = Field(default_factory=lambda: [10, 20], description="cutoffs logged (the monitor's is added)")
    filter_seen: bool = Field(True, description="remove training items from the ranking, as in the final evaluation")
    batch_size: int = Field(1024, ge=1, description="users scored at once")


class CheckpointConfig(_Section):
    enabled: bool = Field(True, description="write RUN/<dir>/last.pt every `every` epochs (and best-<epoch>.pt)")
    every: int = Field(1, ge=1)
    dir: str = Field("checkpoints", description="relative to the run directory")


class TrackingConfig(_Section):
    mlflow: bool = Field(True, description="log params, per-epoch metrics and artifacts to MLflow")
    experiment: str = "recsmith"
    tracking_uri: str | None = Field(None, description="default: a SQLite database, sqlite:///RUN/mlflow.db")


class TrainConfig(_Section):
    """Every option of the training loop. See the module docstring for a YAML example."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(1024, ge=1, description="examples per micro-batch (per process under DDP)")
    accumulation_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    grad_clip: float | None = Field(None, gt=0, description="clip the global gradient norm (after unscaling)")
    amp: Literal["off", "bf16", "fp16"] = Field(
        "off", description="mixed precision: bf16 autocast (CPU or CUDA); fp16 autocast + GradScaler (CUDA only)"
    )
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    seed: int | None = Field(None, ge=0, description="default: the run's top-level seed (0 outside a run)")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms (slower on GPU)")
    compile: bool = Field(False, description="torch.compile the network for training (opt-in)")
    compile_backend: str = Field("inductor", description="torch.compile backend ('eager' needs no C++ compiler)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")

    @model_validator(mode="after")
    def _compatible(self) -> "TrainConfig":
        if self.loss.name == "sampled_softmax" and self.sampler.name == "hard" and self.loss.logq_correction:
            raise ValueError(
                "loss.logq_correction needs sampling probabilities, which hard negatives do not have: "
                "set loss.logq_correction=false or sampler.name to uniform / popularity / in_batch"
            )
        return self

    def with_fixed_epochs(self, epochs: int) -> "TrainConfig":
        """Exactly ``epochs`` epochs, no early stopping: the refit on train + validation for the best
        epoch count that early stopping found."""
        return TrainConfig.model_validate(
            deep_merge(self.model_dump(), {"epochs": epochs, "early_stopping": {"enabled": False}})
        )

    def in_memory(self) -> "TrainConfig":
        """No checkpoints (for fits that keep only the model object: selection, refits, studies)."""
        return self.model_copy(update={"checkpoint": self.checkpoint.model_copy(update={"enabled": False})})


# ---------------------------------------------------------------------- a model's training options
#: the key, among a model's parameters in a run config (``models.<name>.train``) or a composite
#: model's part parameters, that holds that model's overrides of the run's ``train`` section
TRAIN_KEY = "train"


def split_train_overrides(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model hyperparameters, train overrides)`` of a model's parameter dict."""
    overrides = params.get(TRAIN_KEY) or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{TRAIN_KEY}: expected a mapping of train keys, got {overrides!r}")
    return {k: v for k, v in params.items() if k != TRAIN_KEY}, overrides


def check_train_overrides(overrides: dict[str, Any], prefix: list[str]) -> None:
    """Raise a :class:`ConfigError` naming the dotted key (under ``prefix``) of a bad override."""
    try:
        TrainConfig.model_validate(overrides)
    except ValidationError as err:
        raise ConfigError(describe_errors(err, TrainConfig, [*prefix, TRAIN_KEY])) from None


def resolve_train_config(
    model: "TorchRecommender",
    base: TrainConfig | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    prefix: list[str] | None = None,
) -> TrainConfig:
    """The training options of ``model``, by increasing priority: the ``TrainConfig`` defaults, the
    model's own defaults (:meth:`~recsmith.models.torch_base.TorchRecommender.training_defaults`), what ``base`` (the run's ``train``
    section) sets explicitly, and ``overrides`` (``models.<name>.train``). ``seed`` fills in a seed
    that none of them set (the run's top-level seed). ``prefix`` names the overrides in errors."""
    overrides = overrides or {}
    check_train_overrides(overrides, prefix or ["models", model.name])
    own = model.training_defaults()
    explicit = base.model_dump(exclude_unset=True) if base is not None else {}
    merged = deep_merge(deep_merge(deep_merge(TrainConfig().model_dump(), own), explicit), overrides)
    cfg = TrainConfig.model_validate(merged)
    if cfg.seed is None and seed is not None:
        cfg = cfg.model_copy(update={"seed": seed})
    return cfg
