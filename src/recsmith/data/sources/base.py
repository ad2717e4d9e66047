"""What every data source produces, and the registry of sources by name.

A source reads files in one format and returns :class:`RawData`: one canonical interactions table
(external ids as strings, see :mod:`recsmith.data.schema`) plus optional item and user tables.
Preparation (:mod:`recsmith.data.prepare`) turns that into a prepared dataset.

Bad rows: a source checks every row. With ``on_bad_rows="error"`` (default) the first malformed
row raises :class:`~recsmith.errors.DataError` naming the file, the 1-based line and the column;
with ``"skip"`` malformed rows are dropped and counted in :attr:`RawData.bad_rows` (per file),
which the manifest records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from recsmith.data.schema import RAW_SCHEMA, Columns, conform
from recsmith.errors import ConfigError, DataError

BadRowPolicy = Literal["error", "skip"]


@dataclass
class RawData:
    """A source's output, before id encoding.

    Attributes:
        interactions: columns ``user_id`` (Utf8), ``item_id`` (Utf8), ``timestamp`` (Int64: unix
            seconds, or the position in the user's sequence for formats without time) and
            ``weight`` (Float32: the rating, a count, or 1.0).
        items: optional item table keyed by ``item_id`` (Utf8, unique); a ``name`` column holds a
            human-readable name when the source has one; other columns are item attributes.
        users: optional user table keyed by ``user_id`` (Utf8, unique).
        source: description for the manifest (source name, files read, options).
        bad_rows: number of malformed rows skipped, per file (only with ``on_bad_rows="skip"``).
        explicit: whether ``weight`` holds explicit ratings (then a rating threshold can apply).
    """

    interactions: pl.DataFrame
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    source: dict[str, Any] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    explicit: bool = False

    def __post_init__(self) -> None:
        self.interactions = conform(self.interactions, RAW_SCHEMA)
        for table, key in ((self.items, Columns.ItemId), (self.users, Columns.UserId)):
            if table is not None:
                if key not in table.columns:
                    raise ValueError(f"side table lacks its key column {key!r}: {table.columns}")
                if table[key].dtype != pl.Utf8:
                    raise ValueError(f"side table key {key!r} must be Utf8, got {table[key].dtype}")


# A source is a function (path, **options) -> RawData, registered by name.
SourceFn = Callable[..., RawData]


class SourceOptions(BaseModel):
    """A source's ``data.options``, declared once: a source with options subclasses it (fields with
    defaults and descriptions); the reader validates with it and ``recsmith data sources NAME``
    prints it. This base class is the source without options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SourceSpec:
    """A registered source: its reader, and how a dataset of it is prepared.

    ``preparer``: ``"module:function"`` of a preparation pipeline of its own (e.g. the out-of-core
    H&M one), called as ``function(data_config, feature_config, out, overwrite=...)`` instead of
    reading everything with ``reader`` and :func:`recsmith.data.prepare.prepare`; named by string
    because such a pipeline sits above this layer (it writes the feature store too).
    ``feature_preset``: the feature-store preset (``features.preset``) this source's data uses.
    ``summary``: one line on what it reads (what ``--path`` is); ``options``: its ``data.options``.
    ``item_id_digits``: the width to which the source zero-pads numeric item ids (H&M: 10); the
    dataset's ids then accept them without the leading zeros too (:class:`~recsmith.data.idmap.IdMap`).
    """

    name: str
    reader: SourceFn
    summary: str = ""
    options: type[SourceOptions] = SourceOptions
    preparer: str | None = None
    feature_preset: str | None = None
    item_id_digits: int | None = None


_SOURCES: dict[str, SourceSpec] = {}


def register_source(
    name: str,
    *,
    summary: str = "",
    options: type[SourceOptions] = SourceOptions,
    preparer: str | None = None,
    feature_preset: str | None = None,
    item_id_digits: int | None = None,
) -> Callable[[SourceFn], SourceFn]:
    def deco(fn: SourceFn) -> SourceFn:
        # without a summary, the first line of the reader's docstring says what it reads
        said = summary or (fn.__doc__ or "").strip().split("\n")[0]
        _SOURCES[name] = SourceSpec(name, fn, said, options, preparer, feature_preset, item_id_digits)
        return fn

    return deco


def available_sources() -> list[str]:
    import recsmith.data.sources  # noqa: F401  (registers the built-in sources)

    return sorted(_SOURCES)


def source_spec(name: str) -> SourceSpec:
    names = available_sources()
    if name not in _SOURCES:
        raise ConfigError(f"unknown data source {name!r}; available sources: {', '.join(names)}")
    return _SOURCES[name]


def item_id_digits(name: str) -> int | None:
    """The registered source ``name``'s ``item_id_digits``; None for a name no source has (raw data
    handed to preparation directly)."""
    available_sources()
    spec = _SOURCES.get(name)
    return spec.item_id_digits if spec is not None else None


def get_source(name: str) -> SourceFn:
    return source_spec(name).reader


def require_file(path: Path, what: str) -> Path:
    """Raise a DataError naming ``path`` if it does not exist or is empty."""
    if not path.exists():
        raise DataError(f"{what} not found", path=str(path), hint="check the --path argument")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{what} is empty", path=str(path))
    return path
