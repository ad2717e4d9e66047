"""Known users' state, computed at export so that serving them needs no network call.

A sequential or two-tower model scores a history by running a network; a TIGER model by a beam
search; a two_stage model by its candidate sources, features and ranker. For a user the bundle
knows, that output depends only on their training history, so :func:`write_user_state` computes it
once, when the bundle is written, and the service looks it up:

======================  ===========================================  =====================================
model ability           files in ``BUNDLE/state/``                   a known user's request
======================  ===========================================  =====================================
``query_vectors``       ``user_queries.npy`` ``(n_users, d)``,       one row + an inner-product (FAISS)
(sasrec, bert4rec,      ``item_vectors.npy`` ``(n_items, d)``        search over the item vectors, as for
gru4rec, two_tower)                                                  a factor model
``session_lists``       ``list_items.npy`` ``(n_users, m)`` int32,   one row: the ``m`` listed items get
(tiger, two_stage)      ``list_scores.npy`` ``(n_users, m)``         their scores, all others the model's
                                                                     ``unlisted_scores`` (``-inf``, or
                                                                     two_stage's popularity fallback)
======================  ===========================================  =====================================

Plain ``.npy`` arrays (no pickle), opened memory-mapped: a bundle loads without reading them, and
the pages a worker touches are shared with other workers through the page cache. Users with new
feedback events and anonymous sessions still run the network (:mod:`recsmith.serving.online`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsmith.errors import RecsmithError
from recsmith.models.abilities import Ability
from recsmith.models.base import Recommender
from recsmith.models.sessions import QueryVectors, SessionLists
from recsmith.utils.progress import track

STATE_DIR = "state"
#: bytes per read of :meth:`UserState.prefetch`
PREFETCH_CHUNK = 1 << 20
#: users per network call when the state is computed (fixed blocks: see ``TorchRecommender.score_block``)
EXPORT_BLOCK = 1024


@dataclass(frozen=True)
class UserState:
    """The stored state of a bundle: ``queries`` + ``item_vectors`` (query models) or ``list_items``
    + ``list_scores`` (list models); the arrays are read-only memory maps."""

    kind: str
    queries: np.ndarray | None = None
    item_vectors: np.ndarray | None = None
    list_items: np.ndarray | None = None
    list_scores: np.ndarray | None = None

    @classmethod
    def load(cls, bundle: Path, entry: dict[str, Any], n_users: int) -> "UserState":
        root = bundle / STATE_DIR
        arrays = {
            name: np.load(root / file, mmap_mode="r", allow_pickle=False) for name, file in entry["files"].items()
        }
        state = cls(kind=entry["kind"], **arrays)
        rows = state.queries if state.queries is not None else state.list_items
        if rows is None or rows.shape[0] != n_users:
            raise RecsmithError(f"{root}: the stored user state does not match the model's {n_users} users")
        return state

    def prefetch(self) -> int:
        """Read the stored arrays' files now, into the page cache; returns the bytes read.

        A memory-mapped file is read from disk on first touch, and the kernel drops file pages that
        stay idle (under memory pressure, or by proactive reclaim: this project's VMs run DAMON with a
        page-out scheme for memory idle 60 s). A request whose user's row is not in memory then waits
        for the disk on the event loop: two_stage's known users at 100 / 200 requests/s had p99 92 /
        213 ms on a freshly started server, 5.0 / 7.1 ms with this read (docs/performance.md). The
        engine calls it before it takes traffic (start-up and every reload). Plain file reads, in
        1 MiB chunks: the interpreter lock is released while the disk works, so a reload's read does
        not stall requests being served, as touching the mapped pages from Python would."""
        covered = 0
        chunk = bytearray(PREFETCH_CHUNK)
        for array in (self.queries, self.item_vectors, self.list_items, self.list_scores):
            filename = getattr(array, "filename", None)  # set on memory maps; arrays in memory need nothing
            if filename is None:
                continue
            with open(filename, "rb", buffering=0) as f:
                while n := f.readinto(chunk):
                    covered += n
        return covered

    @classmethod
    def compute(cls, model: Recommender | Ability) -> "UserState | None":
        """The state of ``model``'s users, computed now (a bundle written before the state existed)."""
        arrays = _state_arrays(model)
        if arrays is None:
            return None
        kind, values = arrays
        return cls(kind=kind, **values)


def write_user_state(root: Path, model: Recommender) -> dict[str, Any] | None:
    """Compute the known users' state of ``model`` into ``root`` (``BUNDLE/state``); returns its
    manifest entry, or None for models without either ability."""
    arrays = _state_arrays(model)
    if arrays is None:
        return None
    kind, values = arrays
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, array in values.items():
        files[name] = f"{name}.npy"
        np.save(root / files[name], np.ascontiguousarray(array), allow_pickle=False)
    entry: dict[str, Any] = {"kind": kind, "files": files, "n_users": model.n_users}
    if kind == QueryVectors.ability:
        entry["dim"] = int(values["queries"].shape[1])
    else:
        entry["list_size"] = int(values["list_items"].shape[1])
    return entry


def _state_arrays(model: Recommender | Ability) -> tuple[str, dict[str, np.ndarray]] | None:
    blocks = [np.arange(s, min(s + EXPORT_BLOCK, model.n_users)) for s in range(0, model.n_users, EXPORT_BLOCK)]
    if isinstance(model, QueryVectors):
        queries = [model.user_query_vectors(b) for b in track(blocks, description="user query vectors")]
        V = model.output_item_vectors()
        return QueryVectors.ability, {
            "queries": _stack(queries, (0, V.shape[1]), np.float32),
            "item_vectors": np.ascontiguousarray(V, dtype=np.float32),
        }
    if isinstance(model, SessionLists):
        lists = [model.user_lists(b) for b in track(blocks, description="user lists")]
        width = min(model.list_size(), model.n_items)
        return SessionLists.ability, {
            "list_items": _stack([items for items, _ in lists], (0, width), np.int32),
            "list_scores": _stack([scores for _, scores in lists], (0, width), np.float32),
        }
    return None


def _stack(parts: list[np.ndarray], empty: tuple[int, int], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(empty, dtype=dtype)
