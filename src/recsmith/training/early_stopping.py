"""Early stopping on a validation metric, keeping the best weights."""

from __future__ import annotations

import math
from typing import Any

from recsmith.training.config import EarlyStoppingConfig


class EarlyStopping:
    """Tracks the monitored value; :attr:`should_stop` after ``patience`` validations without improvement.

    An improvement is ``value > best + min_delta`` (mode ``max``) or ``value < best - min_delta``
    (mode ``min``); a NaN never improves. ``patience=0`` stops at the first validation that does
    not improve.
    """

    def __init__(self, cfg: EarlyStoppingConfig) -> None:
        self.cfg = cfg
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_validations = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record the validation after ``epoch`` (1-based); True when it is the new best."""
        if self._improves(value):
            self.best, self.best_epoch, self.bad_validations = value, epoch, 0
            return True
        self.bad_validations += 1
        return False

    def _improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.cfg.mode == "max":
            return value > self.best + self.cfg.min_delta
        return value < self.best - self.cfg.min_delta

    @property
    def should_stop(self) -> bool:
        return self.bad_validations >= max(self.cfg.patience, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_validations": self.bad_validations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_validations = state["bad_validations"]
