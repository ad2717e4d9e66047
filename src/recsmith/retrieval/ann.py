"""Approximate nearest-neighbour search with FAISS, persisted with its metadata.

An index is described by one FAISS factory string and a metric, and tuned by named search
parameters, as FAISS itself does::

    index = AnnIndex.build(item_vectors, factory="HNSW32", metric="ip", search_params={"efSearch": 128})
    labels, scores = index.search(query_vectors, k=10)
    index.save("bundle/index")          # index.faiss + index.json + labels.npy (+ external_ids.parquet)
    index = AnnIndex.load("bundle/index")

Factory strings: ``Flat`` (exact), ``IVF{nlist},Flat``, ``IVF{nlist},PQ{m}`` (``PQ{m}x{bits}``),
``HNSW{M}`` / ``HNSW{M},Flat``, and anything else ``faiss.index_factory`` accepts.

Metrics: ``ip`` (inner product), ``l2`` (squared Euclidean) and ``cosine`` (inner product of
L2-normalised vectors; the index stores normalised vectors and queries are normalised on search).

Scores are always *higher is better*: inner products for ``ip`` / ``cosine`` and negated squared
distances for ``l2``. Labels are whatever ids the vectors were built with (by default their row
numbers, i.e. internal item ids); missing results are label ``-1`` with score ``-inf``.

Search parameters: ``nprobe`` (IVF: inverted lists visited) and ``efSearch`` (HNSW: candidate
list size). They are stored in the metadata and applied on every search; ``search(..., params=...)``
overrides them per call. ``allowed`` restricts a search to a subset of labels through a FAISS
``IDSelectorBitmap``, so a filtered search still returns ``k`` results whenever the index can find
them (graph indexes may find fewer when the subset is tiny: callers wanting a guarantee fall back to
:func:`exact_search` over the subset, as the serving layer does).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recsmith.errors import ConfigError, RecsmithError
from recsmith.utils.atomic import atomic_dir
from recsmith.utils.extras import require_extras

Metric = Literal["ip", "l2", "cosine"]
METRICS: tuple[str, ...] = ("ip", "l2", "cosine")
FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
META_FILE = "index.json"
LABELS_FILE = "labels.npy"
EXTERNAL_FILE = "external_ids.parquet"
# search parameters understood, and the index kinds they apply to
SEARCH_PARAMS = {"nprobe": "IVF", "efSearch": "HNSW"}


def _faiss():
    faiss = sys.modules.get("faiss")
    if faiss is None:
        # checked on first use only: the extras check walks sys.path for each of its modules (~10 ms
        # of stat calls), and this runs on every search of the service
        require_extras(["serve"], "FAISS indexes")
        import faiss  # imported on use: `import recsmith.retrieval.ann` stays light

    return faiss


@dataclass
class AnnIndex:
    """A FAISS index plus what is needed to use it again: factory, metric, parameters and labels."""

    index: Any  # faiss.Index
    factory: str
    metric: Metric
    labels: np.ndarray  # (n,) int64: row r of the index is label labels[r]
    search_params: dict[str, int] = field(default_factory=dict)
    external_ids: list[str] | None = None  # optional: external id of each label position
    created: str = ""
    _identity: bool = field(default=False, repr=False)
    _row_of: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        n = self.labels.size
        self._identity = bool(n == 0 or np.array_equal(self.labels, np.arange(n)))
        if not self._identity:
            if self.labels.min() < 0 or np.unique(self.labels).size != n:
                raise RecsmithError("index labels must be distinct non-negative ints")
            self._row_of = np.full(int(self.labels.max()) + 1, -1, dtype=np.int64)
            self._row_of[self.labels] = np.arange(n)
        self.search_params = _check_params(self.index, self.factory, self.search_params)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        factory: str = "Flat",
        metric: Metric = "ip",
        labels: np.ndarray | None = None,
        search_params: dict[str, int] | None = None,
        external_ids: list[str] | None = None,
        train_size: int = 200_000,
        seed: int = 0,
    ) -> "AnnIndex":
        """Build an index over ``vectors`` ``(n, d)`` (float32).

        Args:
            factory: FAISS factory string, e.g. ``"Flat"``, ``"IVF1024,Flat"``, ``"IVF1024,PQ16"``,
                ``"HNSW32"``.
            metric: ``"ip"``, ``"l2"`` or ``"cosine"``.
            labels: ``(n,)`` ids returned for the rows (default ``0..n-1``).
            search_params: e.g. ``{"nprobe": 16}`` (IVF) or ``{"efSearch": 128}`` (HNSW).
            train_size: indexes that need training (IVF, PQ) train on at most this many rows,
                sampled with ``seed``.
        """
        faiss = _faiss()
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
        x = _prepare(vectors, metric)
        n, d = x.shape
        faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        try:
            index = faiss.index_factory(d, factory, faiss_metric)
        except RuntimeError as err:
            raise ConfigError(f"invalid FAISS factory string {factory!r}: {str(err).splitlines()[0]}") from None
        if not index.is_trained:
            if n == 0:
                raise RecsmithError(f"index {factory!r} needs training vectors, got none")
            rng = np.random.default_rng(seed)
            sample = x if n <= train_size else x[np.sort(rng.choice(n, train_size, replace=False))]
            _configure_training(index, seed)
            index.train(sample)
        if n:
            index.add(x)
        return cls(
            index=index,
            factory=factory,
            metric=metric,
            labels=np.arange(n) if labels is None else labels,
            search_params=dict(search_params or {}),
            external_ids=external_ids,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    # ------------------------------------------------------------------ searching
    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        params: dict[str, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best labels for each query.

        Args:
            queries: ``(n, d)`` or ``(d,)`` float32.
            allowed: optional boolean mask over labels (``allowed[label]``); only those are returned.
            params: search parameters for this call, overriding the stored ones.

        Returns:
            ``(labels, scores)``, both ``(n, k)``: int64 labels (``-1`` pads) and float32 scores,
            higher is better.
        """
        q = _prepare(np.atleast_2d(queries), self.metric)
        if q.shape[1] != self.dim:
            raise RecsmithError(f"queries have dimension {q.shape[1]}, the index {self.dim}")
        if k < 1:
            raise RecsmithError(f"k must be at least 1, got {k}")
        merged = (
            self.search_params
            if not params
            else _check_params(self.index, self.factory, {**self.search_params, **params})
        )
        keep: list[Any] = []  # FAISS holds raw pointers: the Python objects must outlive the search
        sel = self._selector(allowed, keep) if allowed is not None else None
        sp = _search_parameters(self.index, merged, sel, keep)
        dist, rows = self.index.search(q, k, params=sp) if sp is not None else self.index.search(q, k)
        found = rows >= 0
        labels = np.where(found, rows if self._identity else self.labels[np.maximum(rows, 0)], -1)
        scores = np.where(found, -dist if self.metric == "l2" else dist, -np.inf).astype(np.float32)
        return labels.astype(np.int64), scores

    def _selector(self, allowed: np.ndarray, keep: list[Any]) -> Any:
        faiss = _faiss()
        allowed = np.asarray(allowed, dtype=bool)
        if self._identity:
            rows_ok = np.zeros(len(self), dtype=bool)
            m = min(allowed.size, len(self))
            rows_ok[:m] = allowed[:m]
        else:
            rows_ok = np.zeros(len(self), dtype=bool)
            in_range = self.labels < allowed.size
            rows_ok[in_range] = allowed[self.labels[in_range]]
        bits = np.packbits(rows_ok, bitorder="little")
        keep.append(bits)
        sel = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bits))
        keep.append(sel)
        return sel

    def to_external(self, labels: np.ndarray) -> list[str]:
        if self.external_ids is None:
            raise RecsmithError("this index was built without external ids")
        return [self.external_ids[i] for i in np.asarray(labels).ravel() if i >= 0]

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        import faiss

        return {
            "format_version": FORMAT_VERSION,
            "factory": self.factory,
            "metric": self.metric,
            "dim": self.dim,
            "count": len(self),
            "search_params": self.search_params,
            "labels": LABELS_FILE,
            "identity_labels": self._identity,
            "external_ids": EXTERNAL_FILE if self.external_ids is not None else None,
            "faiss_version": faiss.__version__,
            "created": self.created,
        }

    def save(self, path: str | Path, *, overwrite: bool = True) -> Path:
        """Write ``index.faiss`` (``faiss.write_index``), ``index.json``, ``labels.npy`` atomically."""
        faiss = _faiss()
        path = Path(path)
        with atomic_dir(path, overwrite=overwrite) as tmp:
            faiss.write_index(self.index, str(tmp / INDEX_FILE))
            np.save(tmp / LABELS_FILE, self.labels, allow_pickle=False)
            if self.external_ids is not None:
                import polars as pl

                pl.DataFrame({"external_id": self.external_ids}, schema={"external_id": pl.Utf8}).write_parquet(
                    tmp / EXTERNAL_FILE
                )
            (tmp / META_FILE).write_text(json.dumps(self.metadata(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, *, mmap: bool = False) -> "AnnIndex":
        """Load an index saved by :meth:`save` (``mmap=True`` maps the index file read-only)."""
        faiss = _faiss()
        path = Path(path)
        meta_file = path / META_FILE
        if not meta_file.exists():
            raise RecsmithError(f"{path} is not a saved ANN index (no {META_FILE})")
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise RecsmithError(f"{path}: unsupported index format {meta.get('format_version')!r}")
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path / INDEX_FILE), flags)
        if index.d != meta["dim"] or index.ntotal != meta["count"]:
            raise RecsmithError(
                f"{path}: index file holds {index.ntotal} x {index.d} vectors, metadata says "
                f"{meta['count']} x {meta['dim']}"
            )
        labels = np.load(path / LABELS_FILE, allow_pickle=False)
        external = None
        if meta.get("external_ids"):
            import polars as pl

            external = pl.read_parquet(path / meta["external_ids"])["external_id"].to_list()
        return cls(
            index=index,
            factory=meta["factory"],
            metric=meta["metric"],
            labels=labels,
            search_params=meta.get("search_params") or {},
            external_ids=external,
            created=meta.get("created", ""),
        )


# ---------------------------------------------------------------------- exact search
def exact_search(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    metric: Metric = "ip",
    allowed: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` in NumPy with the same conventions as :meth:`AnnIndex.search`: labels
    are row numbers of ``vectors``, ``(n, k)`` int64 labels padded with ``-1`` and float32 scores
    (higher is better) padded with ``-inf``; ties go to the lower row.

    Args:
        allowed: ``(rows,)`` boolean mask; only those rows are returned.
        exclude: ``(n,)`` one row per query never to return (e.g. the query item), ``-1`` for none.
    """
    from recsmith.models.base import top_k

    x = _prepare(vectors, metric)
    q = _prepare(np.atleast_2d(queries), metric)
    if q.shape[1] != x.shape[1]:
        raise RecsmithError(f"queries have dimension {q.shape[1]}, the vectors {x.shape[1]}")
    if metric == "l2":
        scores = -(np.sum(q * q, axis=1)[:, None] - 2.0 * q @ x.T + np.sum(x * x, axis=1)[None, :])
    else:
        scores = q @ x.T
    scores = np.asarray(scores, dtype=np.float32)
    if allowed is not None:
        scores[:, ~np.asarray(allowed, dtype=bool)] = -np.inf
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=np.int64).ravel()
        rows = np.flatnonzero(exclude >= 0)
        scores[rows, exclude[rows]] = -np.inf
    top, top_scores = top_k(scores, k)
    top[~np.isfinite(top_scores)] = -1
    pad = k - top.shape[1]
    if pad > 0:
        top = np.pad(top, ((0, 0), (0, pad)), constant_values=-1)
        top_scores = np.pad(top_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return top.astype(np.int64), top_scores.astype(np.float32)


# ---------------------------------------------------------------------- helpers
def _prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
    x: np.ndarray = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise RecsmithError(f"vectors must be a 2-d array, got shape {x.shape}")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0).astype(np.float32)
    return x


def _core(index: Any) -> Any:
    """The index under any pre-transform (OPQ, PCA...), downcast to its concrete class."""
    faiss = _faiss()
    index = faiss.downcast_index(index)
    while isinstance(index, faiss.IndexPreTransform):
        index = faiss.downcast_index(index.index)
    return index


def _kind(index: Any) -> str:
    faiss = _faiss()
    core = _core(index)
    if isinstance(core, faiss.IndexIVF):
        return "IVF"
    if isinstance(core, faiss.IndexHNSW):
        return "HNSW"
    return "other"


def _check_params(index: Any, factory: str, params: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    kind = _kind(index)
    for name, value in params.items():
        if name not in SEARCH_PARAMS:
            raise ConfigError(f"unknown search parameter {name!r}; valid: {', '.join(SEARCH_PARAMS)}")
        if SEARCH_PARAMS[name] != kind:
            raise ConfigError(f"search parameter {name!r} applies to {SEARCH_PARAMS[name]} indexes, not {factory!r}")
        if int(value) < 1:
            raise ConfigError(f"search parameter {name} must be at least 1, got {value!r}")
        out[name] = int(value)
    return out


def _search_parameters(index: Any, params: dict[str, int], sel: Any, keep: list[Any]) -> Any:
    """A ``faiss.SearchParameters*`` object for ``index`` (None when nothing needs setting)."""
    faiss = _faiss()
    if not params and sel is None:
        return None
    idx = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexPreTransform):
        inner = _search_parameters(idx.index, params, sel, keep)
        out = faiss.SearchParametersPreTransform()
        out.index_params = inner
        keep.append(inner)
        keep.append(out)
        return out
    kind = _kind(idx)
    if kind == "IVF":
        out = faiss.SearchParametersIVF()
        out.nprobe = params.get("nprobe", idx.nprobe)
    elif kind == "HNSW":
        out = faiss.SearchParametersHNSW()
        out.efSearch = params.get("efSearch", idx.hnsw.efSearch)
    else:
        out = faiss.SearchParameters()
    if sel is not None:
        out.sel = sel
    keep.append(out)
    return out


def _configure_training(index: Any, seed: int) -> None:
    """Make k-means training deterministic for a seed (IVF coarse quantiser and PQ codebooks).

    Also turns off IVF-PQ's polysemous training: it only serves Hamming-distance pre-filtering,
    which these searches do not use, and takes most of the training time (30 s for 3k vectors).
    """
    faiss = _faiss()
    core = _core(index)
    if hasattr(core, "do_polysemous_training"):
        core.do_polysemous_training = False
    if isinstance(core, faiss.IndexIVF):
        core.cp.seed = seed
        if hasattr(core, "pq"):
            core.pq.cp.seed = seed
    elif hasattr(core, "pq"):
        core.pq.cp.seed = seed
