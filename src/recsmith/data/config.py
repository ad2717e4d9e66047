"""The ``data`` and ``split`` sections of a run config: where the interactions come from, how they are
prepared (:mod:`recsmith.data.prepare`) and split (:mod:`recsmith.data.splits`). Declared here, beside
the layer that reads them; :mod:`recsmith.config` assembles the whole run config from the layers'
sections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    """A config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    """Where the interactions come from and how they are prepared."""

    source: str = Field("synthetic", description="registered source name, e.g. movielens-100k, sequences, hm, csv")
    path: str | None = Field(None, description="file or directory the source reads (unused by 'synthetic')")
    options: dict[str, Any] = Field(default_factory=dict, description="source-specific options (column mapping, sizes)")
    on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="stop at the first malformed row, or skip and count"
    )
    rating_threshold: float | None = Field(
        None, description="explicit -> implicit: keep interactions with weight >= threshold, then set weight 1"
    )
    dedupe: Literal["none", "first", "last", "sum"] = Field(
        "none",
        description="repeated (user, item) pairs: keep all (repeat consumption), the first or the last one, "
        "or one row with summed weight at the last timestamp",
    )
    min_user_interactions: int = Field(0, ge=0, description="iterative k-core: users need at least this many")
    min_item_interactions: int = Field(0, ge=0, description="iterative k-core: items need at least this many")


class SplitConfig(Section):
    """How interactions are split into train / validation / test (see :mod:`recsmith.data.splits`)."""

    method: Literal["loo", "temporal", "last_n", "random"] = "loo"
    valid: bool = Field(True, description="also hold out a validation part (for model selection)")
    min_interactions: int = Field(
        3, ge=1, description="loo / last_n: users with fewer interactions stay entirely in train"
    )
    n: int = Field(1, ge=1, description="last_n: interactions per user held out for test (and for validation)")
    test_time: str | int | None = Field(
        None, description="temporal: T as ISO date/datetime (UTC) or unix seconds; train < T <= test"
    )
    valid_seconds: int | None = Field(
        None, ge=1, description="temporal: validation window length before T (default: same length as test)"
    )

    @field_validator("test_time", mode="before")
    @classmethod
    def _date_to_text(cls, value: Any) -> Any:
        # YAML turns `2020-09-01` into a date; keep it as ISO text, parsed by splits.parse_time
        return value.isoformat() if isinstance(value, (date, datetime)) else value

    test_ratio: float = Field(0.2, gt=0, lt=1, description="random: share of interactions for test")
    valid_ratio: float = Field(0.1, ge=0, lt=1, description="random: share of interactions for validation")
    seed: int = 0
    drop_cold_users: bool = Field(
        True, description="temporal / random: keep only test / validation users that have training interactions"
    )
    cold_items: float = Field(
        0.0, ge=0, lt=1, description="loo / last_n / temporal: seeded share of items held out of train and validation"
    )
