"""Fit a model from run-config-style parameters, as the pipelines do (a module of its own: the test
directories have no __init__; ``tests/`` is on the path through its conftest)."""

from __future__ import annotations

from typing import Any

from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.models import Recommender, create_model
from recsmith.training import fit_model
from recsmith.training.config import split_train_overrides


def fitted(
    name: str,
    params: dict[str, Any] | None,
    data: Interactions,
    *,
    side: SideData | None = None,
    valid: Interactions | None = None,
) -> Recommender:
    """``create_model(name, params)`` fitted on ``data``: a torch model through the Trainer with the
    ``train`` overrides among ``params`` (what ``models.<name>.train`` holds in a run config)."""
    hyper, train = split_train_overrides(params or {})
    return fit_model(create_model(name, hyper).with_side_data(side), data, valid, train_config=train or None)


def torch_model(name: str, params: dict[str, Any] | None = None) -> tuple[Recommender, Any]:
    """``(unfitted model, its resolved TrainConfig)`` from run-config-style ``params``."""
    from recsmith.training.config import resolve_train_config

    hyper, train = split_train_overrides(params or {})
    model = create_model(name, hyper)
    return model, resolve_train_config(model, overrides=train)
