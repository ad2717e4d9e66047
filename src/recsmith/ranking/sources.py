"""Candidate sources: cheap retrievers that each propose a user's top-n items.

Every source scores a batch of users against the whole catalogue (``scores``: ``(B, n_items)``
float32, ``-inf`` where it would never propose an item) and proposes its top-n of those scores
(``propose``; the ANN source searches a FAISS index instead). The union of the proposals is
ranked later; each source's score (for every candidate, not only its own) and rank (for its own)
become features (:mod:`recsmith.ranking.candidates`).

=================  ==================================================================================
kind               scores
=================  ==================================================================================
``model``          any registered model's scores (torch models are trained by the Trainer)
``repurchase``     the user's own items: count, each interaction weighted 2^(-age / half-life), age
                   counted back from the user's last interaction
``popular``        the same for every user: interactions weighted 2^(-age / half-life) from "now"
``cooccurrence``   sum over the user's last ``last`` items (weight 1 / (1 + recency rank)) of each
                   item's neighbours: pairs of items within ``window`` positions (and ``max_days``)
                   in a history, counted and normalised by sqrt(count_i * count_j), top
                   ``neighbours`` kept per item
``same_group``     items of the groups (an item column) of the user's last ``last`` items, weighted
                   like ``cooccurrence``, times the item's (decayed) popularity relative to its group
``ann``            a two-tower model's inner products; proposals from a FAISS index of its item vectors
=================  ==================================================================================

Sources read the users' histories from :class:`Context` (the fitted interactions, or what the
service knows about a user at request time), so a user's newest interactions count at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsmith.data.histories import Histories
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.side import SideData
from recsmith.errors import ConfigError, NotFittedError
from recsmith.features.aggregates import DAY, item_group_codes
from recsmith.models.abilities import Embeddings, ItemItemScoring
from recsmith.models.base import Recommender, top_k
from recsmith.models.registry import create_model, get_model_class
from recsmith.models.sessions import SessionRecommender
from recsmith.ranking import config as C
from recsmith.training.config import split_train_overrides

_LN2 = float(np.log(2.0))


@dataclass
class Context:
    """What sources score from: chronological histories and the reference time.

    For the fitted data, rows of ``histories`` are user ids and ``real_users`` is None. For
    arbitrary histories (a user's training history plus new events, anonymous sessions) rows are
    sessions, ``real_users`` the user of each (``-1``: anonymous) and ``trained`` the histories the
    model was fitted on (what a model source's own scores already know).
    """

    histories: Histories
    now: int
    real_users: np.ndarray | None = None
    trained: Histories | None = None


@dataclass
class FitData:
    """What sources are fitted on. ``valid`` (the ranker's holdout) lets torch sources early-stop;
    ``epochs`` (source name -> best epoch) fixes the epoch count of a refit."""

    interactions: Interactions
    side: SideData | None
    context: Context
    seed: int
    valid: Interactions | None = None
    epochs: dict[str, int] | None = None


class Source(ABC):
    """One candidate source; see the module docstring."""

    def __init__(self, name: str, spec: Any) -> None:
        self.name = name
        self.spec = spec
        #: the best epoch of a torch source that early-stopped on the holdout (None otherwise)
        self.best_epoch: int | None = None

    @abstractmethod
    def fit(self, data: FitData) -> None: ...

    @abstractmethod
    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        """``(len(users), n_items)`` float32, higher is better, ``-inf``: never proposed; a fresh array."""

    def propose(self, users: np.ndarray, scores: np.ndarray, n: int, ctx: Context) -> np.ndarray:
        """``(len(users), n)`` int64 item ids, best first, ``-1`` padded: the top-n of ``scores``
        (already masked with ``-inf`` where the caller excludes items)."""
        items, top = top_k(scores, n)
        items[~np.isfinite(top)] = -1
        return _pad(items, n)

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:  # noqa: B027 (stateless default)
        pass


# ---------------------------------------------------------------------- any registered model
class ModelSource(Source):
    spec: C.ModelSourceSpec | C.AnnSpec

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name, spec)
        self._model: Recommender | None = None

    @property
    def model(self) -> Recommender:
        """The fitted (or loaded) model; an error naming the source before that."""
        if self._model is None:
            raise NotFittedError(f"candidate source {self.name!r} is not fitted: fit or load the two_stage model")
        return self._model

    def _new_model(self, seed: int | None) -> Recommender:
        params = split_train_overrides(self.spec.params)[0]
        if seed is not None and "seed" in get_model_class(self.spec.model).Config.model_fields:
            params.setdefault("seed", seed)
        return create_model(self.spec.model, params)

    def fit(self, data: FitData) -> None:
        from recsmith.ranking.fitting import fit_submodel

        model = self._new_model(data.seed).with_side_data(data.side)
        fitted = fit_submodel(
            model,
            data.interactions,
            overrides=split_train_overrides(self.spec.params)[1],
            valid=data.valid,
            epochs=(data.epochs or {}).get(self.name),
            seed=data.seed,
            prefix=["sources", self.name, "params"],
        )
        self._model, self.best_epoch = fitted.model, fitted.best_epoch

    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        if ctx.real_users is None:
            return self.model.scores(users)  # a fresh array: callers may mask it in place
        return np.stack([self._history_scores(ctx, int(row)) for row in users]) if len(users) else _empty(self.model)

    def _history_scores(self, ctx: Context, row: int) -> np.ndarray:
        """Scores after session ``row``: through the model's ``sessions`` or ``item_item`` ability
        (new items count), else the user's trained scores (an anonymous session gets none)."""
        assert ctx.real_users is not None and ctx.trained is not None  # only called for sessions
        model, real, history = self.model, int(ctx.real_users[row]), ctx.histories.of(row)
        trained = ctx.trained.of(real) if real >= 0 else history[:0]
        extends = len(history) >= len(trained) and np.array_equal(history[: len(trained)], trained)
        added = history[len(trained) :] if extends else history
        if real >= 0 and extends and added.size == 0:
            return model.scores([real])[0]
        if isinstance(model, SessionRecommender):
            return model.session_scores([history], users=[real])[0]
        if isinstance(model, ItemItemScoring):
            items = np.unique(added)
            row_matrix = sp.csr_matrix(
                (np.ones(items.size, np.float32), (np.zeros(items.size, np.int64), items)), shape=(1, model.n_items)
            )
            if real >= 0 and extends:
                row_matrix = row_matrix.maximum(model.history_rows([real]))
            return np.asarray(model.score_history_rows(row_matrix), dtype=np.float32).ravel()
        if real >= 0:
            return model.scores([real])[0]
        return _empty(model)[0]

    def state(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.model._state().items()}

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:
        model = self._new_model(None)
        # fitted by the owner on the owner's interactions: same sizes, seen items and popularity
        model.n_users, model.n_items = owner.n_users, owner.n_items
        model._seen, model._popularity = owner._seen, owner._popularity
        model._load_state(state)
        self._model = model


class AnnSource(ModelSource):
    """Proposals from a FAISS index of the model's item vectors (inner product; the model declares
    the ``embeddings`` ability); scores for the features are the model's exact scores."""

    spec: C.AnnSpec

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name, spec)
        self.index: Any = None

    @property
    def vectors(self) -> Embeddings:
        """The model, through its ``embeddings`` ability (checked when the config was read)."""
        model = self.model
        if not isinstance(model, Embeddings):
            raise ConfigError(f"sources.{self.name}: model {model.name!r} has no embeddings for an ANN index")
        return model

    def fit(self, data: FitData) -> None:
        super().fit(data)
        self._build_index()

    def _build_index(self) -> None:
        import faiss

        vectors = np.ascontiguousarray(self.vectors.item_embeddings(), dtype=np.float32)
        index = faiss.index_factory(vectors.shape[1], self.spec.factory, faiss.METRIC_INNER_PRODUCT)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # one thread: HNSW builds the same graph every time
        try:
            if not index.is_trained:
                index.train(vectors)
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(threads)
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = self.spec.ef_search
        self.index = index

    def propose(self, users: np.ndarray, scores: np.ndarray, n: int, ctx: Context) -> np.ndarray:
        if ctx.real_users is not None:  # sessions have no trained user vector to search with
            return super().propose(users, scores, n, ctx)
        excluded = int((~np.isfinite(scores)).sum(axis=1).max()) if scores.size else 0
        k = min(n + excluded, self.model.n_items)
        queries = np.ascontiguousarray(self.vectors.user_embeddings(users), dtype=np.float32)
        _, found = self.index.search(queries, k)
        found = found.astype(np.int64)
        valid = found >= 0
        allowed = np.zeros_like(valid)
        allowed[valid] = np.isfinite(scores[np.nonzero(valid)[0], found[valid]])
        # keep the allowed results in search order, then cut to n
        order = np.argsort(~allowed, axis=1, kind="stable")
        kept = np.where(np.take_along_axis(allowed, order, axis=1), np.take_along_axis(found, order, axis=1), -1)
        return _pad(kept[:, :n], n)

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:
        super().load_state(state, owner)
        self._build_index()


# ---------------------------------------------------------------------- transaction sources
class RepurchaseSource(Source):
    spec: C.RepurchaseSpec

    def fit(self, data: FitData) -> None:
        self.n_items = data.interactions.n_items

    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        rows, items, ts = _history_rows(ctx.histories, users)
        weight = np.ones(len(items), dtype=np.float64)
        if self.spec.half_life_days is not None and len(items):
            last = np.zeros(len(users), dtype=np.int64)
            np.maximum.at(last, rows, ts)
            weight = np.exp2(-(last[rows] - ts) / (self.spec.half_life_days * DAY))
        return _dense(rows, items, weight, len(users), ctx.histories.n_items)

    def state(self) -> dict[str, np.ndarray]:
        return {"n_items": np.asarray(self.n_items)}

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:
        self.n_items = int(state["n_items"])


class PopularSource(Source):
    spec: C.PopularSpec

    def fit(self, data: FitData) -> None:
        f = data.interactions.frame
        ts = f[Columns.Timestamp].to_numpy()
        weight = decay_weights(ts, data.context.now, self.spec.half_life_days)
        if self.spec.window_days is not None:
            weight = np.where(ts >= data.context.now - self.spec.window_days * DAY, weight, 0.0)
        pop = np.bincount(f[Columns.Item].to_numpy(), weights=weight, minlength=data.interactions.n_items)
        self.popularity = np.where(pop > 0, pop, -np.inf).astype(np.float32)

    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        return np.repeat(self.popularity[None, :], len(users), axis=0)

    def state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:
        self.popularity = state["popularity"]


class CooccurrenceSource(Source):
    spec: C.CooccurrenceSpec

    def fit(self, data: FitData) -> None:
        h = data.context.histories
        user_of = np.repeat(np.arange(h.n_users), h.lengths)
        first, second = [], []
        for d in range(1, self.spec.window + 1):
            same = user_of[:-d] == user_of[d:]
            if self.spec.max_days is not None:
                same &= (h.timestamps[d:] - h.timestamps[:-d]) <= self.spec.max_days * DAY
            first.append(h.items[:-d][same])
            second.append(h.items[d:][same])
        a, b = (
            np.concatenate(first) if first else np.empty(0, np.int64),
            np.concatenate(second) if second else np.empty(0, np.int64),
        )
        keep = a != b
        a, b = a[keep], b[keep]
        if not self.spec.directed:
            a, b = np.concatenate([a, b]), np.concatenate([b, a])
        n = h.n_items
        counts = sp.csr_matrix((np.ones(len(a), dtype=np.float64), (a, b)), shape=(n, n))
        counts.sum_duplicates()
        degree = np.bincount(h.items, minlength=n).astype(np.float64)
        counts = counts.tocoo()
        values = counts.data / np.sqrt(np.maximum(degree[counts.row] * degree[counts.col], 1.0))
        self.neighbours = _top_per_row(counts.row, counts.col, values, n, self.spec.neighbours)

    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        recent = recency_matrix(ctx.histories, users, self.spec.last)
        return _finite_or_inf((recent @ self.neighbours).toarray())

    def state(self) -> dict[str, np.ndarray]:
        m = self.neighbours
        return {"indptr": m.indptr, "indices": m.indices, "data": m.data, "n": np.asarray(m.shape[0])}

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:
        n = int(state["n"])
        self.neighbours = sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=(n, n))


class SameGroupSource(Source):
    spec: C.SameGroupSpec

    def fit(self, data: FitData) -> None:
        if data.side is None or data.side.items is None or self.spec.column not in data.side.items.columns:
            raise ConfigError(f"source {self.name!r} (same_group) needs the item column {self.spec.column!r}")
        codes = item_group_codes(data.side.items, self.spec.column)
        n_items = data.interactions.n_items
        item, code = codes[Columns.Item].to_numpy(), codes["code"].to_numpy()
        n_codes = int(code.max()) + 1 if code.size else 1
        groups = sp.csr_matrix((np.ones(len(item)), (item, code)), shape=(n_items, n_codes))
        f = data.interactions.frame
        weight = decay_weights(f[Columns.Timestamp].to_numpy(), data.context.now, self.spec.half_life_days)
        pop = np.bincount(f[Columns.Item].to_numpy(), weights=weight, minlength=n_items)
        # each group's items, scored by their popularity relative to the group's most popular item
        best = np.zeros(n_codes)
        np.maximum.at(best, code, pop[item])
        share = pop[item] / np.maximum(best[code], 1e-12)
        self.groups = groups
        self.members = sp.csr_matrix((share, (code, item)), shape=(n_codes, n_items))
        self.members.eliminate_zeros()

    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        recent = recency_matrix(ctx.histories, users, self.spec.last)
        return _finite_or_inf(((recent @ self.groups) @ self.members).toarray())

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for name, m in (("groups", self.groups), ("members", self.members)):
            out.update({f"{name}.indptr": m.indptr, f"{name}.indices": m.indices, f"{name}.data": m.data})
            out[f"{name}.shape"] = np.asarray(m.shape)
        return out

    def load_state(self, state: dict[str, np.ndarray], owner: Recommender) -> None:
        for name in ("groups", "members"):
            m = sp.csr_matrix(
                (state[f"{name}.data"], state[f"{name}.indices"], state[f"{name}.indptr"]),
                shape=tuple(state[f"{name}.shape"]),
            )
            setattr(self, name, m)


SOURCES: dict[str, type[Source]] = {
    "model": ModelSource,
    "ann": AnnSource,
    "repurchase": RepurchaseSource,
    "popular": PopularSource,
    "cooccurrence": CooccurrenceSource,
    "same_group": SameGroupSource,
}


def make_source(name: str, spec: Any) -> Source:
    return SOURCES[spec.kind](name, spec)


# ---------------------------------------------------------------------- helpers
def decay_weights(ts: np.ndarray, now: int, half_life_days: float | None) -> np.ndarray:
    """``2^(-(now - ts) / half_life)`` (float64), or ones without a half-life."""
    if half_life_days is None:
        return np.ones(len(ts), dtype=np.float64)
    return np.exp2(-(now - ts).astype(np.float64) / (half_life_days * DAY))


def recency_matrix(histories: Histories, users: np.ndarray, last: int) -> sp.csr_matrix:
    """``(len(users), n_items)``: each user's ``last`` most recent items, weighted 1 / (1 + k) for
    the k-th most recent (a repeated item adds up)."""
    window = histories.last(users, last, pad=-1)  # (B, last), most recent in the last column
    weights = 1.0 / (1.0 + np.arange(last)[::-1])
    rows, cols = np.nonzero(window >= 0)
    return sp.csr_matrix(
        (weights[cols], (rows, window[rows, cols])), shape=(len(users), histories.n_items), dtype=np.float64
    )


def _empty(model: Recommender) -> np.ndarray:
    return np.full((1, model.n_items), -np.inf, dtype=np.float32)


def _history_rows(histories: Histories, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row index into ``users``, item and timestamp of every history entry of ``users``."""
    starts, ends = histories.offsets[users], histories.offsets[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
    return rows, histories.items[pos], histories.timestamps[pos]


def _dense(rows: np.ndarray, items: np.ndarray, weight: np.ndarray, n_rows: int, n_items: int) -> np.ndarray:
    out = np.zeros(n_rows * n_items, dtype=np.float64)
    np.add.at(out, rows * n_items + items, weight)
    return _finite_or_inf(out.reshape(n_rows, n_items))


def _finite_or_inf(values: np.ndarray) -> np.ndarray:
    """float32, with ``-inf`` where nothing was added (exact zeros)."""
    out = values.astype(np.float32)
    out[values == 0] = -np.inf
    return out


def _pad(items: np.ndarray, n: int) -> np.ndarray:
    if items.shape[1] >= n:
        return items[:, :n]
    return np.concatenate([items, np.full((items.shape[0], n - items.shape[1]), -1, dtype=np.int64)], axis=1)


def _top_per_row(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int, k: int) -> sp.csr_matrix:
    """A CSR ``(n, n)`` keeping each row's ``k`` largest values (ties: the lower column)."""
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, np.arange(n))
    rank = np.arange(len(rows)) - starts[rows]
    keep = rank < k
    return sp.csr_matrix((values[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(n, n))
