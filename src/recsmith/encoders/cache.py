"""On-disk cache of per-item embeddings, keyed by (key, model, content hash).

Encoding 12k item texts with a transformer takes minutes on a CPU; the same items come back in every
experiment, so the vectors are kept beside the data and only new or changed items are encoded again.
A row is reused only when its key (e.g. the external item id) *and* the hash of its content (the
text, the image bytes) match, so an edited description is recomputed rather than served stale.

Layout (no pickle anywhere)::

    root/<model-slug>/meta.json     {"model": ..., "dim": ..., "n": ..., "format": 1}
    root/<model-slug>/keys.npy      (n,) unicode
    root/<model-slug>/hashes.npy    (n,) unicode
    root/<model-slug>/vectors.npy   (n, dim) float32

``put`` writes the merged table into a new directory and renames it over the old one
(:func:`recsmith.utils.atomic.atomic_dir`), so a crash leaves the previous cache intact. Two processes
putting at the same time do not corrupt the cache, but the last writer's table wins.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from recsmith.errors import DataError
from recsmith.utils.atomic import atomic_dir

FORMAT = 1
_FILES = ("meta.json", "keys.npy", "hashes.npy", "vectors.npy")


def content_hash(data: str | bytes) -> str:
    """A short, stable hash of a text or of raw bytes (hex, 32 characters)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def model_slug(model: str) -> str:
    """A directory name for a model id: readable tail + hash, so distinct ids never share a folder."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._")[-60:] or "model"
    return f"{readable}-{content_hash(model)[:10]}"


class _Table(NamedTuple):
    keys: np.ndarray  # (n,) unicode
    hashes: np.ndarray  # (n,) unicode
    vectors: np.ndarray  # (n, dim) float32
    row_of: dict[str, int]  # key -> row


class EmbeddingCache:
    """Per-item embedding cache under ``root`` (one sub-directory per model id).

    ``model`` is any string identifying how vectors were made (the encoders add the settings that
    change vectors, such as ``max_length``), ``keys`` identify items, ``hashes`` their content.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        # tables already read, with the stamp of the folder they came from: encode_images asks once
        # per batch, and re-reading a large vectors.npy each time would dominate the run
        self._memo: dict[str, tuple[tuple, _Table]] = {}

    def path(self, model: str) -> Path:
        return self.root / model_slug(model)

    def _read(self, model: str) -> "_Table | None":
        folder = self.path(model)
        try:
            stats = [(folder / name).stat() for name in _FILES]
        except FileNotFoundError:
            return None
        stamp = tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in stats)
        memo = self._memo.get(model)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        try:
            meta = json.loads((folder / "meta.json").read_text())
            keys = np.load(folder / "keys.npy", allow_pickle=False)
            hashes = np.load(folder / "hashes.npy", allow_pickle=False)
            vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(
                f"embedding cache is unreadable ({exc})",
                path=str(folder),
                hint="delete this folder; the embeddings will be recomputed",
            ) from exc
        if (
            meta.get("model") != model
            or meta.get("format") != FORMAT
            or not (len(keys) == len(hashes) == len(vectors) == meta.get("n"))
        ):
            raise DataError(
                f"embedding cache does not match model {model!r} (meta {meta}, {len(keys)} keys, "
                f"{len(vectors)} vectors)",
                path=str(folder),
                hint="delete this folder; the embeddings will be recomputed",
            )
        table = _Table(keys, hashes, vectors, {k: i for i, k in enumerate(keys.tolist())})
        self._memo[model] = (stamp, table)
        return table

    def get(self, model: str, keys: list[str], hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cached rows for ``keys`` whose stored hash equals ``hashes``.

        Returns ``(vectors, hit)``: ``hit`` is a ``(len(keys),)`` bool mask and ``vectors`` holds
        the ``hit.sum()`` cached rows in the order of the hits (``(0, 0)`` when nothing is cached).
        """
        if len(keys) != len(hashes):
            raise ValueError(f"{len(keys)} keys but {len(hashes)} hashes")
        table = self._read(model)
        hit = np.zeros(len(keys), dtype=bool)
        if table is None:
            return np.zeros((0, 0), dtype=np.float32), hit
        rows = []
        for j, (key, h) in enumerate(zip(keys, hashes)):
            row = table.row_of.get(str(key))
            if row is not None and table.hashes[row] == h:
                hit[j] = True
                rows.append(row)
        dim = table.vectors.shape[1]
        return np.asarray(table.vectors[rows], dtype=np.float32).reshape(len(rows), dim), hit

    def put(self, model: str, keys: list[str], hashes: list[str], vectors: np.ndarray) -> None:
        """Add or replace rows (a key already cached gets the new hash and vector)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(keys) != len(vectors) or len(hashes) != len(vectors):
            raise ValueError(f"put needs one key, hash and row each: {len(keys)}, {len(hashes)}, {vectors.shape}")
        if len(keys) == 0:
            return
        table = self._read(model)
        if table is not None and table.vectors.shape[1] != vectors.shape[1]:
            raise DataError(
                f"embedding cache for {model!r} holds {table.vectors.shape[1]}-d vectors, got {vectors.shape[1]}-d",
                path=str(self.path(model)),
                hint="delete this folder or use a different model id",
            )
        merged: dict[str, tuple[str, np.ndarray]] = {}
        if table is not None:
            for k, h, v in zip(table.keys.tolist(), table.hashes.tolist(), table.vectors):
                merged[k] = (h, v)
        for k, h, v in zip(keys, hashes, vectors):
            merged[str(k)] = (str(h), v)
        new_keys = list(merged)
        meta = {"model": model, "dim": int(vectors.shape[1]), "n": len(new_keys), "format": FORMAT}
        with atomic_dir(self.path(model), overwrite=True) as tmp:
            np.save(tmp / "keys.npy", np.array(new_keys, dtype=str), allow_pickle=False)
            np.save(tmp / "hashes.npy", np.array([merged[k][0] for k in new_keys], dtype=str), allow_pickle=False)
            np.save(
                tmp / "vectors.npy", np.stack([merged[k][1] for k in new_keys]).astype(np.float32), allow_pickle=False
            )
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
