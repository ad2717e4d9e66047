"""Models selected by registered name (no if/elif chains)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from recsmith.errors import ConfigError
from recsmith.utils.extras import is_installed

if TYPE_CHECKING:
    from recsmith.models.base import Recommender

_REGISTRY: dict[str, type[Recommender]] = {}
# modules imported on first lookup so that `import recsmith` stays light
_BUILTIN_MODULES = (
    "recsmith.models.random",
    "recsmith.models.popular",
    "recsmith.models.itemknn",
    "recsmith.models.ease",
    "recsmith.models.implicit_mf",
    "recsmith.models.mf",
    "recsmith.models.tiger",
    "recsmith.models.two_tower",
    "recsmith.models.ncf",
    "recsmith.models.sasrec",
    "recsmith.models.bert4rec",
    "recsmith.models.gru4rec",
    "recsmith.models.tfidf",
    # composite models sit above the training layer (their torch parts train under the Trainer)
    "recsmith.composite.hybrid",
    # the two-stage model sits above the training layer too (its retrievers and neural ranker train
    # under the Trainer), in its own layer: ranking/
    "recsmith.ranking.model",
)

T = TypeVar("T", bound="type[Recommender]")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: ``@register("itemknn")`` makes the model available by that name."""

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name]}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available_models() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[Recommender]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available models: {', '.join(sorted(_REGISTRY))}") from None


def create_model(name: str, params: dict[str, Any] | None = None) -> Recommender:
    """Instantiate a registered model from a params dict (validated by the model's Config)."""
    return get_model_class(name)(params or {})


@dataclass(frozen=True)
class ModelInfo:
    """What ``recsmith models`` shows of a registered model."""

    name: str
    #: one line on what the model is (its class's ``summary``)
    summary: str
    #: pip extras needed to fit it with its default config (``recsmith.utils.extras``)
    extras: tuple[str, ...]
    #: those of ``extras`` not installed here: the model is available when this is empty
    missing: tuple[str, ...]

    @property
    def available(self) -> bool:
        return not self.missing


def describe_models() -> list[ModelInfo]:
    """Every registered model, by name, with the extras it needs and whether they are installed."""
    infos = []
    for name in available_models():
        cls = _REGISTRY[name]
        extras = cls.required_extras(cls.Config(), fitting=True)
        infos.append(ModelInfo(name, cls.summary, extras, tuple(e for e in extras if not is_installed(e))))
    return infos
