"""Run configuration: pydantic sections loaded from YAML, overridable with dotted ``--set`` keys.

Every option is declared once, here (data / split / evaluation) or in a model's own ``Config``
(model hyperparameters). Unknown keys and wrong types are :class:`~recsmith.errors.ConfigError`s
that name the dotted key and list the valid ones.

Example::

    cfg = load_config("configs/ml100k.yaml", overrides=["models.itemknn.k=200", "split.method=loo"])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recsmith.errors import ConfigError
from recsmith.evaluation.metrics import METRIC_NAMES
from recsmith.features.config import FeatureConfig
from recsmith.training.config import TRAIN_KEY, TrainConfig, check_train_overrides, split_train_overrides
from recsmith.utils.validation import describe_errors


class Section(BaseModel):
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


class EvalConfig(Section):
    """Full-ranking evaluation settings."""

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


class RunConfig(Section):
    """A whole run: data -> split -> models -> evaluation."""

    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    models: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="model name -> hyperparameters (validated by the model's Config)"
    )
    tune: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict, description="model name -> {param: [values]}: grid chosen on validation"
    )
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    features: FeatureConfig = Field(
        default_factory=FeatureConfig, description="the feature store written with the dataset (recsmith.features)"
    )
    train: TrainConfig = Field(
        default_factory=TrainConfig, description="the Trainer of torch models (recsmith.training)"
    )

    def model_params(self, name: str) -> dict[str, Any]:
        return dict(self.models.get(name, {}))

    def model_grid(self, name: str) -> list[dict[str, Any]]:
        """All hyperparameter combinations to try for ``name`` (the fixed params merged in)."""
        base = self.model_params(name)
        grid = self.tune.get(name, {})
        if not grid:
            return [base]
        keys = sorted(grid)
        return [{**base, **dict(zip(keys, values))} for values in itertools.product(*(grid[k] for k in keys))]


# ---------------------------------------------------------------------- loading
def parse_override(text: str) -> tuple[list[str], Any]:
    """``"models.itemknn.k=200"`` -> ``(["models", "itemknn", "k"], 200)`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.subkey=value")
    key, _, raw = text.partition("=")
    parts = list(key.strip().split("."))
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({err})") from None
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a copy); intermediate dicts are created as needed."""
    out = _deep_copy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {text!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config (or start from defaults), apply overrides, validate everything."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    return validate_config(raw, source=str(path) if path else "config")


def validate_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    try:
        cfg = RunConfig(**raw)
    except ValidationError as err:
        raise ConfigError(f"{source}:\n" + describe_errors(err, RunConfig)) from None
    _validate_models(cfg, source)
    return cfg


#: a ``models`` entry with this key is an alias: ``two_tower_text: {model: two_tower, text_columns: [...]}``
#: is the registered ``two_tower`` under the name ``two_tower_text`` (two set-ups of one model in a run)
ALIAS_KEY = "model"


def split_alias(name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(registered model name, params without the alias key)`` of leaderboard entry ``name``."""
    alias = params.get(ALIAS_KEY)
    return (str(alias) if alias else name), {k: v for k, v in params.items() if k != ALIAS_KEY}


@dataclass(frozen=True)
class ModelEntry:
    """One ``models`` entry of a run, taken apart: ``models.<name>: {model: <registered>, train: {...},
    <hyperparameters>}`` (the alias and the ``train`` overrides are optional)."""

    name: str  # the entry's name on the leaderboard
    model: str  # the registered model
    params: dict[str, Any]  # the model's hyperparameters (its Config)
    train: dict[str, Any]  # overrides of the run's train section (torch models only)


def model_entry(name: str, params: dict[str, Any]) -> ModelEntry:
    """``params`` of leaderboard entry ``name`` (from ``models``, or one ``tune`` combination)."""
    registered, rest = split_alias(name, params)
    hyper, train = split_train_overrides(rest)
    return ModelEntry(name, registered, hyper, train)


def _validate_models(cfg: RunConfig, source: str) -> None:
    from recsmith.models.registry import get_model_class
    from recsmith.models.torch_base import TorchRecommender

    for name, params in {**cfg.models, **{n: {} for n in cfg.tune}}.items():
        model_cls = get_model_class(split_alias(name, cfg.model_params(name))[0])
        prefix = ["tune" if name in cfg.tune else "models", name]
        for combo in cfg.model_grid(name) if name in cfg.tune else [params]:
            try:
                entry = model_entry(name, combo)
                model_cls.Config(**entry.params)
            except ValidationError as err:
                raise ConfigError(f"{source}:\n" + describe_errors(err, model_cls.Config, prefix)) from None
            except ConfigError as err:
                raise ConfigError(f"{source}:\n{'.'.join(prefix)}.{err}") from None
            if entry.train and not issubclass(model_cls, TorchRecommender):
                raise ConfigError(
                    f"{source}:\n{'.'.join(prefix)}.{TRAIN_KEY}: {entry.model!r} is not trained by the Trainer; "
                    "only torch models take train overrides"
                )
            try:
                check_train_overrides(entry.train, prefix)
            except ConfigError as err:
                raise ConfigError(f"{source}:\n{err}") from None


def _deep_copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deep_copy(v) for v in d]
    return d


def dump_config(cfg: RunConfig) -> str:
    """YAML text that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
