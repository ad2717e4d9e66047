"""Recommender models: one contract (:mod:`.base`), thin models, selected by name (:mod:`.registry`)."""

from recsmith.models.base import ModelConfig, Recommender
from recsmith.models.registry import available_models, create_model, get_model_class, register

__all__ = ["ModelConfig", "Recommender", "available_models", "create_model", "get_model_class", "register"]
