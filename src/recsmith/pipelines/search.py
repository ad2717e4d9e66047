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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.side import SideData
from recsmith.errors import ConfigError, RecsmithError
from recsmith.models.base import top_k
from recsmith.utils.extras import require_extras

if TYPE_CHECKING:
    from recsmith.pipelines.recommend import RunArtifacts

#: embedding caches of a run live here (``EmbeddingCache`` layout)
CACHE_DIR = "cache"
DEFAULT_IMAGE_COLUMN = "image"


@dataclass(frozen=True)
class ContentIndex:
    """Unit item vectors ``(n_items, d)``; ``valid[i]`` is False for items without content."""

    vectors: np.ndarray
    valid: np.ndarray
    kind: str  # "text" or "image", for messages

    def search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items by cosine for each row of ``queries`` ``(q, d)``; ``exclude`` ``(q,)``
        removes one item per query (the query item itself). Returns ``(items, scores)``, ``-1`` pads."""
        queries = _unit(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if queries.shape[1] != self.vectors.shape[1]:
            raise RecsmithError(
                f"query vectors have {queries.shape[1]} dimensions but the {self.kind} index has "
                f"{self.vectors.shape[1]}: encode the query with the same model as the items"
            )
        sims = queries @ self.vectors.T
        sims[:, ~self.valid] = -np.inf
        if exclude is not None:
            sims[np.arange(len(queries)), exclude] = -np.inf
        items, scores = top_k(sims, k)
        items[~np.isfinite(scores)] = -1
        return items, scores


def run_item_texts(run: "RunArtifacts", columns: list[str]) -> list[str]:
    """One text per internal item from the run's item table (``columns`` joined)."""
    items = _aligned_items(run, "text search")
    try:
        return SideData(items=items).item_texts(columns)
    except ConfigError as err:
        raise ConfigError(f"{err}; choose columns with --text-columns") from None


def text_index(run: "RunArtifacts", columns: list[str], model: str | None = None) -> ContentIndex:
    """The run's items encoded from their text (cached under ``RUN/cache``)."""
    texts = run_item_texts(run, columns)
    valid = np.array([bool(t.strip()) for t in texts])
    if not valid.any():
        raise ConfigError(f"no item of run {run.path} has text in columns {columns}; choose others with --text-columns")
    vectors = _encode_texts(texts, model, cache_root=run.path / CACHE_DIR, keys=_keys(run))
    return ContentIndex(_unit(vectors), valid, "text")


def query_vector(query: str, model: str | None = None) -> np.ndarray:
    """``(1, d)`` vector of a text query (never cached: queries are one-off)."""
    if not query.strip():
        raise ConfigError("the text query is empty; pass words to --query, e.g. --query 'blue denim jacket'")
    return _encode_texts([query], model, cache_root=None, keys=None)


def image_index(
    run: "RunArtifacts", column: str, model: str | None, root: Path | None = None
) -> tuple[ContentIndex, int]:
    """The run's items encoded from their images; returns the index and how many images failed."""
    items = _aligned_items(run, "image search")
    if column not in items.columns:
        raise ConfigError(
            f"the item table of run {run.path} has no image column {column!r} (columns: "
            f"{', '.join(c for c in items.columns if c != Columns.Item)}); pass --image-column with the column "
            "that holds image paths or URLs, or prepare the dataset with one"
        )
    if model is None:
        raise ConfigError(
            "--image needs --image-model: the directory (or Hugging Face name in the local cache) of an image "
            "encoder such as a CLIP vision model, used for both the item images and the query image"
        )
    root = root or run.dataset_root
    paths = [None if p is None else _resolve(str(p), root) for p in items[column].cast(pl.Utf8).to_list()]
    vectors, errors = _encode_images(paths, model, cache_root=run.path / CACHE_DIR, keys=_keys(run))
    valid = np.array([p is not None for p in paths])
    valid[[e.index for e in errors]] = False
    if not valid.any():
        raise RecsmithError(f"none of the {len(paths)} item images in column {column!r} could be read (root {root})")
    return ContentIndex(_unit(vectors), valid, "image"), len(errors)


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
def _aligned_items(run: "RunArtifacts", purpose: str) -> pl.DataFrame:
    if run.items is None:
        raise ConfigError(
            f"{purpose} needs item attributes, but run {run.path} has no dataset/items.parquet "
            "(the dataset was prepared from a source without an item table)"
        )
    ids = pl.DataFrame({Columns.Item: pl.int_range(0, len(run.item_map), dtype=pl.Int32, eager=True)})
    table = run.items.with_columns(pl.col(Columns.Item).cast(pl.Int32)).unique(Columns.Item, keep="first")
    return ids.join(table, on=Columns.Item, how="left", maintain_order="left")


def _keys(run: "RunArtifacts") -> list[str]:
    return [str(x) for x in run.item_map.external_ids.to_list()]


def _resolve(path: str, root: Path) -> str:
    if "://" in path or Path(path).is_absolute():
        return path
    return str(root / path)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
