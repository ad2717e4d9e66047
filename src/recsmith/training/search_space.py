"""The ``study`` section of a run config: hyperparameter search spaces for ``recsmith tune`` (Optuna).

Declared here, beside the training layer whose models it tunes, without importing Optuna (loading a
config stays fast). The grid of the ``tune`` section is a different, older thing and keeps working::

    study:
      trials: 30                 # per model; a resumed study runs only the ones still missing
      sampler: tpe               # tpe (default) | random
      pruner: median             # median | hyperband | none: stops torch trials early on the
                                 # Trainer's per-epoch validation metric
      seed: 0
      spaces:
        ease:
          l2: {type: float, low: 10, high: 5000, log: true}
        als:
          factors: {type: int, low: 16, high: 256, log: true}
          regularization: {type: float, low: 0.001, high: 10, log: true}
        sasrec:
          dropout: {type: float, low: 0.0, high: 0.5}
          heads: {type: categorical, choices: [1, 2]}
          train.optimizer.lr: {type: float, low: 0.0001, high: 0.01, log: true}

A key is a hyperparameter of the model (its ``Config``) or, for torch models, ``train.<dotted key>``:
an override of the run's ``train`` section for this model. Each space is checked when the config is
loaded: an unknown type or key, ``low > high``, a log range that reaches 0, a step that does not fit,
an empty choice list, or bounds the model itself refuses are :class:`~recsmith.errors.ConfigError`s
naming ``study.spaces.<model>.<key>``.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsmith.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamSpace(_Section):
    """One hyperparameter's range: an int or float interval (optionally log-scaled or stepped), or a
    list of choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = Field(None, description="int / float: smallest value (inclusive)")
    high: float | None = Field(None, description="int / float: largest value (inclusive)")
    log: bool = Field(False, description="int / float: sample uniformly in log space (needs low > 0)")
    step: float | None = Field(None, gt=0, description="int / float: grid step from low (not with log)")
    choices: list[Any] | None = Field(None, description="categorical: the values to choose from")

    @model_validator(mode="after")
    def _possible(self) -> "ParamSpace":
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical space needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("a categorical space takes only 'choices' (no low / high / log / step)")
            if any(isinstance(c, dict | list) for c in self.choices):
                raise ValueError("choices must be scalars (numbers, strings, booleans or null)")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} space takes low / high, not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} space needs both 'low' and 'high'")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"impossible range: low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low {self.low}")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        if self.type == "int":
            for name, value in (("low", self.low), ("high", self.high), ("step", self.step)):
                if value is not None and value != int(value):
                    raise ValueError(f"an int space needs whole numbers; {name} is {value}")
        if self.step is not None and self.step > self.high - self.low and self.high > self.low:
            raise ValueError(f"step {self.step} is larger than the range {self.low}..{self.high}")
        return self

    def corners(self) -> list[Any]:
        """Values that must all be valid for the model: both bounds, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        assert self.low is not None and self.high is not None
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


class StudyConfig(_Section):
    """Options of ``recsmith tune`` and the search spaces it samples (module docstring)."""

    trials: int = Field(30, ge=1, description="trials per model (a resumed study runs the missing ones)")
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler; tpe = Tree-structured Parzen")
    startup_trials: int = Field(10, ge=0, description="tpe: random trials before the model-based ones")
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median", description="stop unpromising torch trials on the per-epoch validation metric"
    )
    warmup_epochs: int = Field(5, ge=0, description="median: epochs a trial always runs before it may be pruned")
    startup_pruning_trials: int = Field(5, ge=0, description="median: trials that finish before any is pruned")
    jobs: int = Field(
        1, ge=1, description="trials run at once in threads (models whose fit releases the GIL: numpy, implicit, torch)"
    )
    timeout_s: float | None = Field(None, gt=0, description="stop starting new trials after this many seconds")
    seed: int | None = Field(None, ge=0, description="sampler seed (default: the run's seed)")
    spaces: dict[str, dict[str, ParamSpace]] = Field(
        default_factory=dict, description="model entry -> {hyperparameter or train.<key>: its space}"
    )


class Trial(Protocol):
    """What :func:`suggest` needs of a trial (an ``optuna.Trial``)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def suggest(trial: Trial, spaces: dict[str, ParamSpace]) -> dict[str, Any]:
    """One value per key of ``spaces``, drawn by ``trial``: ``{dotted key: value}``."""
    out: dict[str, Any] = {}
    for key, space in spaces.items():
        if space.type == "categorical":
            out[key] = trial.suggest_categorical(key, space.choices)
        elif space.type == "int":
            assert space.low is not None and space.high is not None
            step = int(space.step) if space.step is not None else 1
            out[key] = trial.suggest_int(key, int(space.low), int(space.high), step=step, log=space.log)
        else:
            assert space.low is not None and space.high is not None
            out[key] = trial.suggest_float(key, space.low, space.high, step=space.step, log=space.log)
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"train.optimizer.lr": 0.01, "dim": 64}`` -> ``{"train": {"optimizer": {"lr": 0.01}}, "dim": 64}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"study.spaces: {key!r} sets inside {part!r}, which another key sets to a value")
            node = nxt
        node[parts[-1]] = value
    return out
