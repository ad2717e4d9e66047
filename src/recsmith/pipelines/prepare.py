"""Prepare a dataset directory from a run config's ``data`` (and ``features``) section: the one entry
point of ``recsmith data prepare`` and of library callers.

The source registry says how (:class:`~recsmith.data.sources.base.SourceSpec`): a source with a
preparation pipeline of its own (H&M: out of core, :mod:`recsmith.pipelines.prepare_hm`) runs it;
any other is read whole (:func:`~recsmith.data.prepare.read_source`), prepared
(:func:`~recsmith.data.prepare.prepare`) and saved, with a feature store when ``features.enabled``.
A source's feature preset (H&M's ``hm``) applies under the keys the config sets itself.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from recsmith.data.config import DataConfig
from recsmith.data.prepare import prepare, read_source
from recsmith.data.sources.base import source_spec
from recsmith.features.config import FeatureConfig
from recsmith.utils.atomic import check_output


def prepare_dataset(
    data: DataConfig, out: str | Path, *, features: FeatureConfig | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Prepare ``data`` into the directory ``out`` (atomically); returns the dataset's manifest
    (``counts``, ``bad_rows`` and the rest of what :class:`~recsmith.data.dataset.Dataset` reads)."""
    check_output(out, overwrite=overwrite)  # before reading the source
    spec = source_spec(data.source)
    features = with_source_preset(features or FeatureConfig(), spec.feature_preset)
    if spec.preparer is not None:
        module, _, function = spec.preparer.partition(":")
        pipeline = getattr(importlib.import_module(module), function)
        return pipeline(data, features, out, overwrite=overwrite)
    raw = read_source(data)
    dataset = prepare(raw, data)
    if features.enabled:
        from recsmith.features.store import save_with_features, source_inputs

        save_with_features(dataset, features, out, overwrite=overwrite, inputs=source_inputs(raw.source))
    else:
        dataset.save(out, overwrite=overwrite)
    return dataset.manifest


def with_source_preset(features: FeatureConfig, preset: str | None) -> FeatureConfig:
    """``features`` over the source's preset: the keys set explicitly win, key by key."""
    if preset is None or features.preset is not None:
        return features
    return FeatureConfig.model_validate({**features.model_dump(exclude_unset=True), "preset": preset})
