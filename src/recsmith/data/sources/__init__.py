"""Data sources: each module registers its readers by name (see :mod:`.base`)."""

from recsmith.data.sources import generic, hm, movielens, sequences, synthetic  # noqa: F401  (registration)
from recsmith.data.sources.base import RawData, available_sources, get_source, register_source

__all__ = ["RawData", "available_sources", "get_source", "register_source"]
