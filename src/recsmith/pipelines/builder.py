"""One builder for "a model from a run config", used by every pipeline that trains one.

``recsmith train``, ``recsmith benchmark``, ``recsmith lr-find`` and ``recsmith scaling`` (and the
tuning and retraining pipelines) all need the same glue, so it lives here once:

* the ``models.<name>`` entry taken apart (:func:`recsmith.config.model_entry`): an alias
  (``two_tower_text: {model: two_tower, ...}``) names the registered model, ``train`` holds the
  model's overrides of the run's ``train`` section, the rest are the model's hyperparameters;
* the run's seed for models that take one and did not set it;
* the dataset's item / user tables (:class:`~recsmith.data.side.SideData`) for models that read them;
* for a torch model, its training options: the run's ``train`` section over the model's own defaults,
  under the entry's overrides, with the run's seed (:func:`~recsmith.training.config.resolve_train_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsmith.config import RunConfig, model_entry
from recsmith.data.dataset import Dataset
from recsmith.data.side import SideData
from recsmith.errors import ConfigError
from recsmith.models.base import Recommender
from recsmith.models.registry import create_model, get_model_class
from recsmith.models.torch_base import TorchRecommender
from recsmith.training.config import TrainConfig, resolve_train_config


@dataclass
class BuiltModel:
    """An unfitted model of a run and how to train it."""

    entry: str  # the name in the run's ``models`` section (and on the leaderboard)
    params: dict[str, Any]  # the entry's parameters as given (alias and train overrides included)
    model: Recommender
    #: a torch model's training options; None for models without a training loop
    train_config: TrainConfig | None

    def for_trainer(self) -> tuple[TorchRecommender, TrainConfig]:
        """The torch model and its training options (single-model pipelines check the entry first,
        with :func:`torch_entry`); a ConfigError for a model the Trainer does not train."""
        if not isinstance(self.model, TorchRecommender) or self.train_config is None:
            raise ConfigError(f"model {self.entry!r} is not a torch model: the Trainer does not train it")
        return self.model, self.train_config


def build_model(
    cfg: RunConfig, entry: str, params: dict[str, Any] | None = None, *, side: SideData | None = None
) -> BuiltModel:
    """The model of ``entry`` with ``params`` (default: the run's ``models.<entry>``), unfitted."""
    params = with_run_seed(cfg, entry, cfg.model_params(entry) if params is None else params)
    parts = model_entry(entry, params)
    model = create_model(parts.model, parts.params).with_side_data(side)
    train_config = None
    if isinstance(model, TorchRecommender):
        train_config = resolve_train_config(model, cfg.train, parts.train, seed=cfg.seed, prefix=["models", entry])
    elif parts.train:
        raise ConfigError(f"models.{entry}.train: {parts.model!r} is not trained by the Trainer")
    return BuiltModel(entry, params, model, train_config)


def side_data(dataset: Dataset, dataset_path: str | Path | None = None) -> SideData:
    """The dataset's item / user tables for every model (only content-aware ones read them); the
    dataset's directory, when given, enables their embedding cache."""
    return SideData.from_dataset(dataset, dataset_path if dataset_path and Path(dataset_path).is_dir() else None)


def check_models(cfg: RunConfig, entries: list[str]) -> None:
    """Fail before any work on an entry that is not a registered model, has a bad config, or needs an
    extra that is not installed (:class:`~recsmith.errors.MissingExtraError`, one line naming it)."""
    for entry in entries:
        build_model(cfg, entry).model.check_extras(fitting=True)


def with_run_seed(cfg: RunConfig, entry: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the run's seed for models that take one and do not set it."""
    registered = model_entry(entry, params).model
    if "seed" in get_model_class(registered).Config.model_fields and "seed" not in params:
        return {**params, "seed": cfg.seed}
    return params


def registered_name(cfg: RunConfig, entry: str) -> str:
    """The registered model behind leaderboard entry ``entry`` (itself, unless it is an alias)."""
    return model_entry(entry, cfg.model_params(entry)).model


def torch_entry(cfg: RunConfig, entry: str | None) -> str:
    """The one torch model a single-model pipeline trains: ``entry``, or the only one the config lists."""
    if entry is None:
        if len(cfg.models) != 1:
            listed = ", ".join(cfg.models) or "none"
            raise ConfigError(f"pass --model NAME: the config lists {len(cfg.models)} models ({listed}), not one")
        entry = next(iter(cfg.models))
    if not issubclass(get_model_class(registered_name(cfg, entry)), TorchRecommender):
        raise ConfigError(f"model {entry!r} is not a torch model; train it with `recsmith benchmark --models {entry}`")
    return entry
