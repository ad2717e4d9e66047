"""The feature store: encoded features of interactions, users and items, fitted on the training
part, written as Parquet and memory-mappable ``.npy`` arrays (see :mod:`.store` for the layout).

* :mod:`.config`: the ``features`` config section (which columns, which encoder each);
* :mod:`.encoders`: categorical (vocabulary or hashing), multi-valued (jagged), numeric, text, image;
* :mod:`.time`: cyclic and history time features, without looking past each row's timestamp;
* :mod:`.store`: :class:`FeatureWriter` / :func:`build_feature_store` and :class:`FeatureStore`.

The out-of-core H&M preparation that writes a feature store with the dataset is a pipeline:
:mod:`recsmith.pipelines.prepare_hm`.

Names are imported on first use, so that the run config can import :mod:`.config` cheaply.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FeatureConfig", "FeatureStore", "Sequences", "build_feature_store"]

_WHERE = {
    "FeatureConfig": "recsmith.features.config",
    "FeatureStore": "recsmith.features.store",
    "Sequences": "recsmith.features.store",
    "build_feature_store": "recsmith.features.store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'recsmith.features' has no attribute {name!r}")
