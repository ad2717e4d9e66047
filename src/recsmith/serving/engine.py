"""The recommendation engine of one loaded bundle: external ids in, ranked external ids out.

No web framework here: the routes call these methods, tests and benchmarks can too. An engine is
immutable once built (a reload builds a new one and swaps it in), so requests in flight keep using
the engine they started with.

Selecting the top ``k`` under business rules (see :mod:`recsmith.serving.rules`): the rules become
one boolean mask of eligible items (seen items removed too when ``exclude_seen``), then

* a request ranked by a query vector (``fold_in`` and ``query_vectors`` models) with an ANN index:
  the index is searched with the mask as a FAISS id selector; if at most ``exact_below`` items are
  eligible, or the index found fewer than ``min(k, eligible)``, the eligible items are scored
  exactly instead;
* every other request: the dense score vector is masked with ``-inf`` and the top ``k`` taken.

Either way an answer has ``k`` items whenever ``k`` items are eligible.

Network work (anonymous sessions and users with new events of sequential, two-tower and TIGER
models) runs on the engine's micro-batcher (:mod:`recsmith.serving.batching`): the ``*_async``
methods await it without blocking the event loop, the plain ones wait for it in the calling thread.
Known users are served from the bundle's stored state (:mod:`recsmith.serving.user_state`).

Text search (bundles exported with ``--text-columns``, see :mod:`recsmith.serving.text_search`)
ranks items by cosine between the encoded query and the bundle's item text vectors, under the
same rule mask; items without text are never returned.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from recsmith.models.abilities import (
    Explanation,
    Explanations,
    ItemSimilarity,
    missing_ability,
    popularity_explanation,
)
from recsmith.models.base import top_k
from recsmith.serving.batching import MicroBatcher, Overloaded
from recsmith.serving.bundle import Bundle
from recsmith.serving.errors import NotFound, NotSupportedByModel
from recsmith.serving.online import FreshStates, History, OnlineState, Personal, scorer_for
from recsmith.serving.rules import ItemRules, eligible_mask
from recsmith.serving.text_search import QueryEncoder

Strategy = Literal["personal", "session", "popular"]


@dataclass(frozen=True)
class RuleSpec:
    """Business rules of one call, with external item ids."""

    filters: tuple[dict[str, Any], ...] = ()
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BatchConfig:
    """The micro-batcher's limits (:class:`~recsmith.serving.batching.MicroBatcher`) and how many users'
    post-feedback states are kept (:class:`~recsmith.serving.online.FreshStates`)."""

    max_batch: int = 32
    max_wait_s: float = 0.002
    max_queue: int = 256
    fresh_states: int = 50_000


@dataclass(frozen=True)
class _Request:
    """One recommendation request, resolved to internal ids."""

    user: int  # internal id, -1 unknown / anonymous
    added: np.ndarray  # online (or session) items, oldest first
    excluded: np.ndarray | None  # seen items to drop (None: exclude_seen off)
    strategy: Strategy
    user_id: str | None = None  # external id of a user with events: their network state is kept
    generation: int = 0  # the user's event generation when the request started


def _omp_threads(n: int) -> None:
    """OpenMP's thread count is per calling thread: set it in the thread about to search."""
    import faiss

    faiss.omp_set_num_threads(n)


class Engine:
    def __init__(
        self,
        bundle: Bundle,
        *,
        exact_below: int = 2048,
        ann_threads: int = 1,
        batching: BatchConfig = BatchConfig(),
        onnx: bool = True,
        threads: int = 1,
    ) -> None:
        self.bundle = bundle
        self.model = bundle.model
        self.version = bundle.version
        self.n_items = self.model.n_items
        encoder = (bundle.manifest.get("encoders") or {}).get("query_vectors") if onnx else None
        self.scorer = scorer_for(
            self.model, bundle.user_state, encoder=bundle.path / encoder["file"] if encoder else None, threads=threads
        )
        self.rules = ItemRules(bundle.items, self.n_items)
        self.index = bundle.index
        self.exact_below = exact_below
        self._vectors = self.scorer.item_vectors()
        self.batcher: MicroBatcher[History, Personal] | None = None
        if self.scorer.uses_network:
            self.batcher = MicroBatcher(
                self.scorer.run_network,
                max_batch=batching.max_batch,
                max_wait_s=batching.max_wait_s,
                max_queue=batching.max_queue,
                name=f"recsmith-batcher-{self.version}",
            )
        self.fresh = FreshStates(batching.fresh_states)
        pop_items, pop_scores = self.model.recommend_cold(self.n_items)
        self._popularity = np.full(self.n_items, -np.inf, dtype=np.float32)
        self._popularity[pop_items] = pop_scores
        keep = np.isfinite(pop_scores)
        self._popular_order, self._popular_scores = pop_items[keep], pop_scores[keep]
        self.ann_threads = ann_threads
        self._external_items = bundle.item_map.external_ids.to_list()  # a list index beats a Series gather per call
        self.text = bundle.text
        self._query_encoder: QueryEncoder | None = None
        self._text_lock = threading.Lock()
        self._item_names: dict[int, str] | None = None
        self.loaded_at = time.time()

    @classmethod
    def from_path(cls, path: str, **kwargs: Any) -> "Engine":
        return cls(Bundle.load(path), **kwargs).warm()

    def warm(self) -> "Engine":
        """Build the lazy lookups, read the stored user state into memory and run one query of each
        kind, before the engine takes traffic."""
        if self.bundle.user_state is not None:
            self.bundle.user_state.prefetch()
        self.bundle.user_map.to_internal([""], strict=False)
        self.bundle.item_map.to_internal([""], strict=False)
        if self.model.n_users:
            self.recommend(self.bundle.user_map.external_ids[0], 10)
        self.recommend("", 10)
        if self.batcher is not None and self.n_items:  # the network's first call allocates; not a request's
            self.recommend_session(self.bundle.item_map.external_ids[:3].to_list(), 10)
        if self.text is not None:  # load the query encoder now: the first search must not wait seconds for it
            self.text.check(self._encoder())
        return self

    # ------------------------------------------------------------------ recommendations
    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        exclude_seen: bool = True,
        rules: RuleSpec = RuleSpec(),
        online: OnlineState | None = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """Top-``k`` for an external user id; unknown users get a flagged cold-start answer. Waits in
        this thread for network work (never call it on the event loop: :meth:`recommend_async`)."""
        request = self._user_request(user_id, exclude_seen, online)
        return self._finish(request, self._personal(request), k, rules, user_id=user_id, explain=explain)

    async def recommend_async(
        self,
        user_id: str,
        k: int,
        *,
        exclude_seen: bool = True,
        rules: RuleSpec = RuleSpec(),
        online: OnlineState | None = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """:meth:`recommend` for the event loop: network work is awaited on the micro-batcher."""
        request = self._user_request(user_id, exclude_seen, online)
        personal = await self._personal_async(request)
        return self._finish(request, personal, k, rules, user_id=user_id, explain=explain)

    def recommend_session(
        self,
        session_items: list[str],
        k: int,
        *,
        exclude_seen: bool = True,
        rules: RuleSpec = RuleSpec(),
        explain: bool = False,
    ) -> dict[str, Any]:
        """Top-``k`` for an anonymous session given as recent item ids (unknown ids are ignored)."""
        request = self._session_request(session_items, exclude_seen)
        return self._finish(request, self._personal(request), k, rules, session=session_items, explain=explain)

    async def recommend_session_async(
        self,
        session_items: list[str],
        k: int,
        *,
        exclude_seen: bool = True,
        rules: RuleSpec = RuleSpec(),
        explain: bool = False,
    ) -> dict[str, Any]:
        """:meth:`recommend_session` for the event loop."""
        request = self._session_request(session_items, exclude_seen)
        personal = await self._personal_async(request)
        return self._finish(request, personal, k, rules, session=session_items, explain=explain)

    def refresh(self, user_id: str, online: OnlineState) -> None:
        """Compute the state of a user who just sent events, in the background, so that their next
        request finds it (on every feedback event; a full queue leaves it to that request)."""
        request = self._user_request(user_id, False, online)
        job = self.scorer.network_input(request.user, request.added)
        if job is None or self.batcher is None or request.user_id is None:
            return
        try:
            future = self.batcher.submit(job)
        except Overloaded:  # the user's next request computes it
            return

        def keep(done: Any) -> None:
            if done.exception() is None:
                self.fresh.put(user_id, request.generation, done.result())

        future.add_done_callback(keep)

    def _user_request(self, user_id: str, exclude_seen: bool, online: OnlineState | None) -> _Request:
        user = int(self.bundle.user_map.to_internal([user_id], strict=False)[0])
        positive, seen_online = online.get(user_id) if online is not None else ([], [])
        added = self._internal(positive)
        if user >= 0:
            strategy: Strategy = "personal"
        else:
            strategy = "session" if added.size else "popular"
        excluded = np.concatenate([self.scorer.seen_items(user), self._internal(seen_online)]) if exclude_seen else None
        generation = online.generation(user_id) if online is not None and added.size else 0
        return _Request(user, added, excluded, strategy, user_id if added.size else None, generation)

    def _session_request(self, session_items: list[str], exclude_seen: bool) -> _Request:
        added = self._internal(session_items)
        return _Request(-1, added, added if exclude_seen else None, "session" if added.size else "popular")

    def _personal(self, request: _Request) -> Personal:
        job, kept = self._network_job(request)
        if job is None:
            return kept if kept is not None else self.scorer.personal(request.user, request.added)
        return self._keep(request, self._network().run_sync(job))

    async def _personal_async(self, request: _Request) -> Personal:
        job, kept = self._network_job(request)
        if job is None:
            return kept if kept is not None else self.scorer.personal(request.user, request.added)
        return self._keep(request, await self._network().run(job))

    def _network(self) -> MicroBatcher[History, Personal]:
        """The micro-batcher (a request that needs the network has a scorer that uses it: it exists)."""
        if self.batcher is None:
            raise RuntimeError(f"{type(self.scorer).__name__} asked for the network but has no batcher")
        return self.batcher

    def _network_job(self, request: _Request) -> tuple[History | None, Personal | None]:
        """``(network input, None)`` when the request needs the network, ``(None, kept state)`` when a
        user's state after their last event is kept, ``(None, None)`` when the scorer answers at once."""
        job = self.scorer.network_input(request.user, request.added)
        if job is None or request.user_id is None:
            return job, None
        kept = self.fresh.get(request.user_id, request.generation)
        return (None, kept) if kept is not None else (job, None)

    def _keep(self, request: _Request, personal: Personal) -> Personal:
        if request.user_id is not None:
            self.fresh.put(request.user_id, request.generation, personal)
        return personal

    def _finish(
        self,
        request: _Request,
        personal: Personal,
        k: int,
        rules: RuleSpec,
        *,
        user_id: str | None = None,
        session: list[str] | tuple[str, ...] = (),
        explain: bool = False,
    ) -> dict[str, Any]:
        """The answer of a request ranked by ``personal``; ``explain``: each item carries its explanation
        (see :meth:`explanations`), from the same history the scorer read."""
        items, scores, strategy = self._top(personal, k, rules, request.excluded, request.strategy)
        answer = self._answer(items, scores, user_id=user_id, strategy=strategy, rules=rules, session=session)
        if not explain:
            return answer
        return self._with_explanations(answer, items, request.user, request.added, strategy)

    # ------------------------------------------------------------------ explanations
    def explanations(
        self, items: np.ndarray, user: int, added: np.ndarray, strategy: Strategy
    ) -> tuple[list[Explanation | None], str | None]:
        """Why each of ``items`` was listed for ``user`` (``-1``: anonymous) plus the ``added`` items.

        A popularity answer is explained by popularity (a ``popularity`` reason: the item's training
        users); a model answer by the model's ``explanations`` ability, the same history its scorer
        read. Returns ``(explanations, note)``: a model without the ability gives ``None`` for its
        items and a note that says so.
        """
        if strategy == "popular":
            return [self._popularity_explanation(int(i)) for i in items], None
        if not isinstance(self.model, Explanations):
            return [None] * len(items), f"{missing_ability(self.model, Explanations)}, so its items are not explained"
        explained = self.model.explain(items, user=user, added=added)
        # items the model left unscored were filled in by popularity (see _top)
        return [e if np.isfinite(e.score) else self._popularity_explanation(e.item) for e in explained], None

    def _popularity_explanation(self, item: int) -> Explanation:
        return popularity_explanation(item, float(self._popularity[item]))

    def _with_explanations(
        self, answer: dict[str, Any], items: np.ndarray, user: int, added: np.ndarray, strategy: Strategy
    ) -> dict[str, Any]:
        explanations, note = self.explanations(items, user, added, strategy)
        names = self._names()
        for row, e in zip(answer["items"], explanations):
            row["explanation"] = None if e is None else e.to_dict(self._external_items, names)
        answer["explanation_note"] = note
        return answer

    def _names(self) -> dict[int, str]:
        """Internal item id -> name from the bundle's item table (built on the first explanation)."""
        if self._item_names is None:
            items = self.bundle.items
            names: dict[int, str] = {}
            if items is not None and "name" in items.columns:
                names = {int(i): n for i, n in zip(items["item"].to_list(), items["name"].to_list()) if n is not None}
            self._item_names = names
        return self._item_names

    def similar(self, item_id: str, k: int, *, rules: RuleSpec = RuleSpec()) -> dict[str, Any]:
        """The ``k`` items most similar to ``item_id`` by the model's item similarity."""
        item = int(self.bundle.item_map.to_internal([item_id], strict=False)[0])
        if item < 0:
            raise NotFound(f"unknown item id {item_id!r}", details={"item_id": item_id})
        if not isinstance(self.model, ItemSimilarity):
            raise NotSupportedByModel(
                f"{missing_ability(self.model, ItemSimilarity)}, so it cannot list similar items",
                details={"model": self.model.name, "abilities": list(self.model.abilities())},
            )
        sims = self.model.item_similarity([item])[0]
        sims[item] = -np.inf
        allowed = self._mask(rules, None)
        if allowed is not None:
            sims[~allowed] = -np.inf
        top, scores = top_k(sims[None, :], min(k, self.n_items))
        keep = np.isfinite(scores[0])
        answer = self._answer(top[0][keep], scores[0][keep], user_id=None, strategy=None, rules=rules)
        return {"item_id": item_id, **answer}

    # ------------------------------------------------------------------ text search
    def search(self, query: str, k: int, *, rules: RuleSpec = RuleSpec()) -> dict[str, Any]:
        """The ``k`` items whose text is nearest ``query`` (cosine), under ``rules``."""
        if self.text is None:
            raise NotSupportedByModel(
                f"this model ({self.model.name!r}, version {self.version}) has no text encoder, so text search "
                "is not available; use /v1/items/{item_id}/similar or /v1/recommendations with session_items",
                details={"model": self.model.name, "model_version": self.version},
            )
        vector = self._encoder().encode(query)
        items, scores = self.text.search(vector, k, self._mask(rules, None))
        return {"query": query, **self._answer(items, scores, user_id=None, strategy=None, rules=rules)}

    def _encoder(self) -> QueryEncoder:
        encoder = self._query_encoder
        if encoder is None:
            text = self.text
            if text is None:  # callers check first
                raise RuntimeError("a bundle without a text index has no query encoder")
            with self._text_lock:
                if self._query_encoder is None:
                    self._query_encoder = text.load_encoder()
                encoder = self._query_encoder
        return encoder

    # ------------------------------------------------------------------ selection
    def _top(
        self, personal: Personal, k: int, rules: RuleSpec, excluded: np.ndarray | None, strategy: Strategy
    ) -> tuple[np.ndarray, np.ndarray, Strategy]:
        allowed = self._mask(rules, excluded)
        n_allowed = self.n_items if allowed is None else int(allowed.sum())
        want = min(k, n_allowed)
        if want == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32), strategy
        query, index = personal.query, self.index
        if query is not None and index is not None:
            if allowed is not None and n_allowed <= self.exact_below:
                return (*self._exact(query, np.flatnonzero(allowed), k), strategy)
            _omp_threads(self.ann_threads)  # per thread: requests run on a pool of threads
            labels, scores = index.search(query, k, allowed=allowed)
            found = labels[0] >= 0
            if found.sum() >= want:
                return labels[0][found], scores[0][found], strategy
            rows = np.arange(self.n_items) if allowed is None else np.flatnonzero(allowed)
            return (*self._exact(query, rows, k), strategy)
        scores = personal.dense(self.n_items, self._vectors)
        if scores is None:  # popularity: walk the precomputed order instead of a full top-k
            order = self._popular_order if allowed is None else self._popular_order[allowed[self._popular_order]]
            take = order[:want]
            if take.size == want:
                return take, self._popularity[take], "popular"
            scores, strategy = self._popularity.copy(), "popular"
        if allowed is not None:
            scores[~allowed] = -np.inf
        top, top_scores = top_k(scores[None, :], want)
        below = self.model.fallback_below
        if below is not None and strategy != "popular" and top_scores[0][0] < below:
            strategy = "popular"  # the model proposed nothing for this history: its popularity fallback
        keep = np.isfinite(top_scores[0])
        if keep.sum() < want:  # the model gives some eligible items no score: fill by popularity
            return (*self._fill(top[0][keep], top_scores[0][keep], allowed, want), strategy)
        return top[0], top_scores[0], strategy

    def _exact(self, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._vectors
        if vectors is None:  # set with the index, and only a bundle with an index has queries
            raise RuntimeError("exact search needs the item vectors of a bundle with an ANN index")
        scores = vectors[rows] @ query
        top, top_scores = top_k(scores[None, :].astype(np.float32), min(k, rows.size))
        return rows[top[0]], top_scores[0]

    def _fill(
        self, items: np.ndarray, scores: np.ndarray, allowed: np.ndarray | None, want: int
    ) -> tuple[np.ndarray, np.ndarray]:
        pop = self._popularity.copy()
        if allowed is not None:
            pop[~allowed] = -np.inf
        pop[items] = -np.inf
        extra, _ = top_k(pop[None, :], want - items.size)
        extra = extra[0][np.isfinite(pop[extra[0]])] if extra.size else extra[0]
        floor = scores.min() if scores.size else 0.0
        return np.concatenate([items, extra]), np.concatenate([scores, np.full(extra.size, floor, np.float32)])

    def _mask(self, rules: RuleSpec, excluded: np.ndarray | None) -> np.ndarray | None:
        filter_mask = self.rules.filter_mask(list(rules.filters))
        exclude = self._internal(rules.exclude)
        if excluded is not None and excluded.size:
            exclude = np.concatenate([exclude, excluded])
        include = self._internal(rules.include) if rules.include is not None else None
        return eligible_mask(
            self.n_items, filter_mask=filter_mask, exclude=exclude if exclude.size else None, include=include
        )

    # ------------------------------------------------------------------ helpers
    def _internal(self, external: list[str] | tuple[str, ...]) -> np.ndarray:
        """Internal ids of the known ``external`` item ids (unknown ones dropped)."""
        if not external:
            return np.empty(0, dtype=np.int64)
        ids = self.bundle.item_map.to_internal(external, strict=False)
        return ids[ids >= 0]

    def _answer(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        *,
        user_id: str | None,
        strategy: Strategy | None,
        rules: RuleSpec,
        session: list[str] | tuple[str, ...] = (),
    ) -> dict[str, Any]:
        names = self._external_items
        external = [names[i] for i in items.tolist()]
        out: dict[str, Any] = {
            "items": [
                {"rank": r + 1, "item_id": e, "score": float(s)} for r, (e, s) in enumerate(zip(external, scores))
            ],
            "model_version": self.version,
            # the unknown-id policy: ids in exclude / include / session lists the model does not know
            # are ignored, and said so (docs/api.md)
            "unknown_ids": self.unknown_items([*rules.exclude, *(rules.include or ()), *session]),
        }
        if strategy is not None:
            out.update(user_id=user_id, cold_start=strategy != "personal", strategy=strategy)
        return out

    def unknown_items(self, item_ids: list[str]) -> list[str]:
        """The ids in ``item_ids`` the model does not know, once each, in the order given."""
        if not item_ids:
            return []
        unique = list(dict.fromkeys(item_ids))
        internal = self.bundle.item_map.to_internal(unique, strict=False)
        return [i for i, j in zip(unique, internal.tolist()) if j < 0]

    @property
    def has_text_encoder(self) -> bool:
        return self.text is not None

    def info(self) -> dict[str, Any]:
        m = self.bundle.manifest
        return {
            "version": self.version,
            "model": m["model"]["name"],
            "created": m.get("created"),
            "n_users": self.model.n_users,
            "n_items": self.n_items,
            "config": m["model"].get("config", {}),
            "metrics": m.get("metrics", {}),
            "index": m.get("index"),
            "text_encoder": m.get("text_encoder"),
            "loaded_at": self.loaded_at,
        }
