"""Content search over a benchmark run's items: items like an item, a text query, or an image.

Item vectors come from the frozen encoders of :mod:`recsmith.encoders` (all-MiniLM-L6-v2 for texts by
default; an image model the user names for images) and are cached under ``RUN/cache/`` by
(external item id, model, content hash), so the catalogue is encoded once per run and text setting.
Ranking is by cosine similarity (unit vectors, dot product). Items without text / without a
readable image are never returned.

Texts are the run's item table columns (``name`` by default) joined like
:meth:`~recsmith.data.side.SideData.item_texts`; image paths come from one item column, relative
paths resolved against the prepared dataset the run was made from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.side import SideData, aligned
from recsmith.errors import ConfigError, RecsmithError
from recsmith.retrieval.item_vectors import ItemVectors, unit_rows
from recsmith.utils.extras import require_extras

if TYPE_CHECKING:
    from recsmith.runs.layout import Run

DEFAULT_IMAGE_COLUMN = "image"


def run_item_texts(run: "Run", columns: list[str]) -> list[str]:
    """One text per internal item from the run's item table (``columns`` joined)."""
    items = _aligned_items(run, "text search")
    try:
        return SideData(items=items).item_texts(columns)
    except ConfigError as err:
        raise ConfigError(f"{err}; choose columns with --text-columns") from None


def text_index(run: "Run", columns: list[str], model: str | None = None) -> ItemVectors:
    """The run's items encoded from their text (cached under ``RUN/cache``)."""
    texts = run_item_texts(run, columns)
    valid = np.array([bool(t.strip()) for t in texts])
    if not valid.any():
        raise ConfigError(f"no item of run {run.path} has text in columns {columns}; choose others with --text-columns")
    vectors = _encode_texts(texts, model, cache_root=run.cache_dir, keys=_keys(run))
    return ItemVectors(unit_rows(vectors), valid, "text")


def query_vector(query: str, model: str | None = None) -> np.ndarray:
    """``(1, d)`` vector of a text query (never cached: queries are one-off)."""
    if not query.strip():
        raise ConfigError("the text query is empty; pass words to --query, e.g. --query 'blue denim jacket'")
    return _encode_texts([query], model, cache_root=None, keys=None)


def image_index(run: "Run", column: str, model: str | None, root: Path | None = None) -> tuple[ItemVectors, int]:
    """The run's items encoded from their images; returns the index and how many images failed."""
    items = _aligned_items(run, "image search")
    if column not in items.columns:
        raise ConfigError(
            f"the item table of run {run.path} has no image column {column!r} (columns: "
            f"{', '.join(c for c in items.columns if c != Columns.Item)}); pass --image-column with the column "
            "that holds image paths or URLs, or prepare the dataset with one"
        )
    model = image_model_name(model)
    root = root or run.dataset_root
    paths = [None if p is None else _resolve(str(p), root) for p in items[column].cast(pl.Utf8).to_list()]
    vectors, errors = _encode_images(paths, model, cache_root=run.cache_dir, keys=_keys(run))
    valid = np.array([p is not None for p in paths])
    valid[[e.index for e in errors]] = False
    if not valid.any():
        raise RecsmithError(f"none of the {len(paths)} item images in column {column!r} could be read (root {root})")
    return ItemVectors(unit_rows(vectors), valid, "image"), len(errors)


def image_model_name(model: str | None) -> str:
    """``model``, or the error that asks for ``--image-model`` when it is None."""
    if model is None:
        raise ConfigError(
            "--image needs --image-model: the directory (or Hugging Face name in the local cache) of an image "
            "encoder such as a CLIP vision model, used for both the item images and the query image"
        )
    return model


def image_query_vector(path: Path, model: str) -> np.ndarray:
    """``(1, d)`` vector of the query image; a clear error when it cannot be read."""
    vectors, errors = _encode_images([str(path)], model, cache_root=None, keys=None)
    if errors:
        raise RecsmithError(f"cannot use query image {path}: {errors[0].reason}")
    return vectors


# ---------------------------------------------------------------------- encoders (patched in tests)
def _encode_texts(
    texts: list[str], model: str | None, *, cache_root: Path | None, keys: list[str] | None
) -> np.ndarray:
    require_extras(["text"], "text search")
    from recsmith.encoders import DEFAULT_TEXT_MODEL, EmbeddingCache, encode_texts

    cache = EmbeddingCache(cache_root) if cache_root is not None else None
    return encode_texts(texts, model or DEFAULT_TEXT_MODEL, cache=cache, keys=keys, progress=len(texts) > 1)


def _encode_images(paths: list[str | None], model: str, *, cache_root: Path | None, keys: list[str] | None):
    require_extras(["text"], "image search")
    from recsmith.encoders import EmbeddingCache, encode_images

    cache = EmbeddingCache(cache_root) if cache_root is not None else None
    return encode_images(paths, model, cache=cache, keys=keys, progress=len(paths) > 1)


# ---------------------------------------------------------------------- helpers
def _aligned_items(run: "Run", purpose: str) -> pl.DataFrame:
    if run.items is None:
        raise ConfigError(
            f"{purpose} needs item attributes, but run {run.path} has no dataset/items.parquet "
            "(the dataset was prepared from a source without an item table)"
        )
    table = aligned(run.items, Columns.Item, len(run.item_map))
    if table is None:
        raise ConfigError(
            f"{purpose} needs item attributes keyed by the internal item id, but the item table of run "
            f"{run.path} has no {Columns.Item!r} column"
        )
    return table


def _keys(run: "Run") -> list[str]:
    return [str(x) for x in run.item_map.external_ids.to_list()]


def _resolve(path: str, root: Path) -> str:
    if "://" in path or Path(path).is_absolute():
        return path
    return str(root / path)
