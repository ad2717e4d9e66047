"""Unit item vectors searched exactly by cosine: the content index behind text search in the service
(:mod:`recsmith.serving.text_search`) and behind text / image search over a run's items
(:mod:`recsmith.runs.search`). Search is :func:`~recsmith.retrieval.ann.exact_search`, so it follows
the conventions of the FAISS :class:`~recsmith.retrieval.ann.AnnIndex` (labels, masks, padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsmith.errors import RecsmithError
from recsmith.retrieval.ann import exact_search


@dataclass(frozen=True)
class ItemVectors:
    """``vectors``: ``(n_items, d)`` float32 unit rows (zero rows where ``valid`` is False);
    ``valid``: ``(n_items,)`` bool, the item has content (items without it are never returned)."""

    vectors: np.ndarray
    valid: np.ndarray
    kind: str = "text"  # what the vectors encode, for messages ("text", "image")

    @classmethod
    def from_rows(cls, rows: np.ndarray, valid: np.ndarray, kind: str = "text") -> ItemVectors:
        """From encoded rows of the ``valid`` items only (``(valid.sum(), d)``), normalised."""
        valid = np.asarray(valid, dtype=bool)
        vectors = np.zeros((valid.size, rows.shape[1]), dtype=np.float32)
        vectors[valid] = unit_rows(rows)
        return cls(vectors, valid, kind)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items by cosine for each query ``(q, d)`` or ``(d,)`` among the items with content
        that ``allowed`` lets through; ``exclude`` ``(q,)`` removes one item per query. Returns
        ``(items, scores)``, both ``(q, k)``, padded with ``-1`` / ``-inf``."""
        queries = unit_rows(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if queries.shape[1] != self.dim:
            raise RecsmithError(
                f"query vectors have {queries.shape[1]} dimensions but the {self.kind} index has {self.dim}: "
                "encode the query with the same model as the items"
            )
        eligible = self.valid if allowed is None else self.valid & np.asarray(allowed, dtype=bool)
        return exact_search(self.vectors, queries, k, metric="ip", allowed=eligible, exclude=exclude)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0).astype(np.float32)
