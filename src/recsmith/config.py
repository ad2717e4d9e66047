"""Run configuration: pydantic sections loaded from YAML, overridable with dotted ``--set`` keys.

Every option is declared once, beside the layer that reads it: ``data`` / ``split`` in
:mod:`recsmith.data.config`, ``features`` in :mod:`recsmith.features.config`, ``train`` in
:mod:`recsmith.training.config`, ``evaluation`` in :mod:`recsmith.evaluation.config`, each model's
hyperparameters in its own ``Config``. This module only assembles them into :class:`RunConfig`
(and re-exports the sections), with the ``models`` / ``tune`` entries and the YAML / ``--set`` loading. Unknown keys and wrong types are :class:`~recsmith.errors.ConfigError`s
that name the dotted key and list the valid ones.

Example::

    cfg = load_config("configs/ml100k.yaml", overrides=["models.itemknn.k=200", "split.method=loo"])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from recsmith.data.config import DataConfig, Section, SplitConfig
from recsmith.errors import ConfigError
from recsmith.evaluation.config import EvalConfig
from recsmith.features.config import FeatureConfig
from recsmith.training.config import TRAIN_KEY, TrainConfig, check_train_overrides, split_train_overrides
from recsmith.training.search_space import StudyConfig, nest
from recsmith.utils.packaged import resolve_config_path
from recsmith.utils.validation import describe_errors

__all__ = [
    "DataConfig",
    "EvalConfig",
    "FeatureConfig",
    "ModelEntry",
    "RunConfig",
    "SplitConfig",
    "StudyConfig",
    "TrainConfig",
    "dump_config",
    "load_config",
    "model_entry",
    "validate_config",
]


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
    study: StudyConfig = Field(
        default_factory=StudyConfig,
        description="search spaces of `recsmith tune` (Optuna; recsmith.training.search_space)",
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
        path = resolve_config_path(path)  # a file, or a packaged config by name (recsmith/configs)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    overrides = list(overrides or [])
    try:
        return validate_config(apply_overrides(raw, overrides), source=str(path) if path else "config")
    except ConfigError:
        blamed = _blamed_overrides(raw, overrides)
        if not blamed:
            raise
        # the same error, said to come from the overrides that cause it rather than from the file
        return validate_config(apply_overrides(raw, overrides), source=", ".join(f"--set {o}" for o in blamed))


def _blamed_overrides(raw: dict[str, Any], overrides: list[str]) -> list[str]:
    """The overrides without which the config is valid (each alone is the cause); [] when none is."""
    blamed = []
    for i, text in enumerate(overrides):
        try:
            validate_config(apply_overrides(raw, overrides[:i] + overrides[i + 1 :]))
        except ConfigError:
            continue
        blamed.append(text)
    return blamed


def validate_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    try:
        cfg = RunConfig(**raw)
    except ValidationError as err:
        raise ConfigError(f"{source}:\n" + describe_errors(err, RunConfig)) from None
    _validate_models(cfg, source)
    _validate_spaces(cfg, source)
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


def _validate_spaces(cfg: RunConfig, source: str) -> None:
    """Every ``study.spaces`` key names a hyperparameter of its model (or a ``train.`` override of a
    torch model), and every bound / choice is a value the model accepts."""
    from recsmith.models.registry import get_model_class
    from recsmith.models.torch_base import TorchRecommender

    for name, spaces in cfg.study.spaces.items():
        registered, base = split_alias(name, cfg.model_params(name))
        model_cls: Any = get_model_class(registered)
        hyper, _ = split_train_overrides(base)
        fields = sorted(k for k in model_cls.Config.model_fields if k != ALIAS_KEY)
        for key, space in spaces.items():
            where = f"study.spaces.{name}.{key}"
            if key.split(".")[0] == TRAIN_KEY:
                if not issubclass(model_cls, TorchRecommender):
                    raise ConfigError(f"{source}:\n{where}: {registered!r} is not trained by the Trainer")
            elif key not in fields:
                raise ConfigError(
                    f"{source}:\n{where}: {registered!r} has no hyperparameter {key!r}; valid keys: "
                    f"{', '.join(fields)} (or train.<key> for torch models)"
                )
            for value in space.corners():
                _check_space_value(model_cls, hyper, key, value, where, source)


def _check_space_value(model_cls: Any, hyper: dict[str, Any], key: str, value: Any, where: str, source: str) -> None:
    """``value`` of space ``key`` (a bound or a choice) is accepted by the model or the Trainer."""
    try:
        if key.split(".")[0] == TRAIN_KEY:
            check_train_overrides(nest({key: value})[TRAIN_KEY], [])
        else:
            model_cls.Config(**{**hyper, key: value})
    except (ValidationError, ConfigError) as err:
        detail = describe_errors(err, model_cls.Config) if isinstance(err, ValidationError) else str(err)
        raise ConfigError(f"{source}:\n{where}: the value {value!r} of this range is refused: {detail}") from None


def _deep_copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deep_copy(v) for v in d]
    return d


def dump_config(cfg: RunConfig) -> str:
    """YAML text that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
