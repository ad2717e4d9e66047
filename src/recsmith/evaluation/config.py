"""The ``evaluation`` section of a run config: full-ranking settings, model selection and the
statistics of the leaderboard. Declared here, beside the metrics it names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recsmith.evaluation.metrics import METRIC_NAMES


class EvalConfig(BaseModel):
    """Full-ranking evaluation settings."""

    model_config = ConfigDict(extra="forbid")

    ks: list[int] = Field(default_factory=lambda: [5, 10, 20])
    filter_seen: bool = Field(True, description="remove each user's training items from the ranking")
    batch_size: int = Field(1024, ge=1, description="users scored at once (memory ~ batch_size x n_items floats)")
    select_metric: str = Field("ndcg@10", description="validation metric used for model selection")
    baseline: str | None = Field(
        "popular", description="model the leaderboard compares every other with (paired tests); skipped if not run"
    )
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for confidence intervals (0: none)")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the comparisons with the baseline")

    @field_validator("ks")
    @classmethod
    def _positive(cls, ks: list[int]) -> list[int]:
        if not ks or min(ks) < 1:
            raise ValueError("ks must be a non-empty list of positive integers")
        return sorted(set(ks))

    @model_validator(mode="after")
    def _select_metric_is_computed(self) -> "EvalConfig":
        # A selection metric the evaluation never computes would silently select nothing.
        name, _, k = self.select_metric.partition("@")
        if name not in METRIC_NAMES or not k.isdigit() or int(k) not in self.ks:
            raise ValueError(
                f"select_metric {self.select_metric!r} is not computed: use '<metric>@<k>' with metric one of "
                f"{', '.join(METRIC_NAMES)} and k one of ks {self.ks}"
            )
        return self
