"""``two_stage``: candidates from several retrievers, ordered by a learned ranker over point-in-time
features. A registered model like any other, so the benchmark puts it beside its own retrievers.

Fitting on interactions ``D`` (:meth:`TwoStage._fit`)::

    1. holdout      D = history H + labels L (each user's last interaction(s), or the last days)
    2. retrievers   every source fitted on H (torch sources early-stop on L)
    3. candidates   the union of the sources' top-n for the users of L, scored out of sample
    4. features     each source's score and rank + aggregates of H only (recsmith.features.aggregates)
    5. ranker       learns to put L's items first among each user's candidates (LightGBM LambdaRank
                    by default); users whose candidates miss every label item are left out
    6. refit        every source refitted on all of D (torch sources for their best epoch count on
                    L), the aggregates recomputed on D

Scoring a user (:meth:`TwoStage._score`): candidates from the refitted sources, features from the
aggregates of D, the ranker's score for each candidate. Every other item gets a popularity score
far below any candidate's (``FALLBACK``), so full lists stay in a sensible order; a user without
any candidate gets that popularity order alone (the popularity fallback, reported by
:meth:`TwoStage.fallback_users`).

Persistence: every source's state, the ranker (LightGBM's text model, or the neural ranker's
weights), the aggregates and the histories go into ``state.npz`` (no pickle); ``save`` also writes
``feature_importance.json`` (gain per feature) and ``candidates.json`` (candidate recall per
source and of the union on the holdout, with the ranker's training size) beside it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field, field_validator

from recsmith.data.config import SplitConfig
from recsmith.data.histories import Histories
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.side import SideData
from recsmith.data.splits import split
from recsmith.errors import ConfigError, RecsmithError
from recsmith.features.aggregates import (
    DAY,
    FEATURES,
    PRICE,
    AggregateParams,
    HistoryTables,
    attach_interaction_columns,
    check_features,
    check_groups,
    item_group_codes,
    store_columns,
)
from recsmith.models.base import ModelConfig, Recommender
from recsmith.models.registry import get_model_class, register
from recsmith.models.sessions import SessionLists, Sessions, session_lists, session_users
from recsmith.ranking import config as C
from recsmith.ranking.candidates import candidates, feature_names, recall_report
from recsmith.ranking.rankers import LightGBMRanker, Ranker, RankingData
from recsmith.ranking.sources import Context, FitData, Source, make_source
from recsmith.training.config import split_train_overrides
from recsmith.utils.atomic import atomic_write_text
from recsmith.utils.logging import log

#: every non-candidate item scores FALLBACK + its popularity share (in [0, 1]): below any candidate
FALLBACK = -1.0e4


def _default_sources() -> dict[str, C.SourceSpec]:
    return {"itemknn": C.ModelSourceSpec(model="itemknn"), "popular": C.PopularSpec()}


@register("two_stage")
class TwoStage(Recommender, SessionLists):
    """Two-stage recommendation; see the module docstring.

    It has the ``sessions`` ability: any history (a user's training history plus new events, an
    anonymous session) is scored by the same pipeline, with the user and user x item features
    computed from that history at request time (item features stay those of the fitted data), so
    the service re-ranks with what it knows about the user now. And ``session_lists``: a history's
    own scores are its ranked candidates (at most :meth:`list_size`), every other item gets the
    popularity fallback (:meth:`unlisted_scores`), so a bundle stores each known user's ranked
    candidates and serves them without running the sources or the ranker.
    """

    summary = "candidates from several retrievers, ordered by a learned ranker over point-in-time features"

    uses_side_data = True
    fallback_below = FALLBACK + 1.5  # candidates score >= FALLBACK + 2, the fallback FALLBACK + [0, 1]

    class Config(ModelConfig):
        sources: Annotated[
            dict[str, C.SourceSpec], C.checked(dict[str, C.SourceSpec], "sources", C.SOURCE_CLASSES, tag_at=1)
        ] = Field(
            default_factory=_default_sources,
            description="name -> candidate source (kind: " + ", ".join(C.SOURCE_CLASSES) + ")",
        )
        candidates: Annotated[C.CandidateSpec, C.checked(C.CandidateSpec, "candidates", C.CandidateSpec)] = Field(
            default_factory=C.CandidateSpec, description="how the union is built"
        )
        features: list[str] = Field(
            default_factory=lambda: ["user_count", "item_count", "ui_count"],
            description="aggregate features (recsmith.features.aggregates.FEATURES); the sources' scores "
            "and ranks are always features",
        )
        aggregates: Annotated[AggregateParams, C.checked(AggregateParams, "aggregates", AggregateParams)] = Field(
            default_factory=AggregateParams, description="windows of the time features, item columns of the group ones"
        )
        holdout: Annotated[C.HoldoutSpec, C.checked(C.HoldoutSpec, "holdout", C.HoldoutSpec)] = Field(
            default_factory=C.HoldoutSpec, description="the interactions the ranker learns to predict"
        )
        ranker: Annotated[C.RankerSpec, C.checked(C.RankerSpec, "ranker", C.RANKER_CLASSES, tag_at=0, tag="name")] = (
            Field(default_factory=C.LightGBMSpec, description="the ranker (name: " + ", ".join(C.RANKER_CLASSES) + ")")
        )
        seed: int = Field(0, description="seeds the holdout and negative sampling, the retrievers and the ranker")

        @field_validator("sources", mode="after")
        @classmethod
        def _sources(cls, sources: dict[str, Any]) -> dict[str, Any]:
            return C.check_sources(sources)

        @field_validator("features", mode="after")
        @classmethod
        def _features(cls, names: list[str]) -> list[str]:
            unknown = [n for n in names if n not in FEATURES]
            if unknown:
                raise ValueError(f"unknown feature(s) {unknown}; valid features: {', '.join(FEATURES)}")
            if len(set(names)) != len(names):
                raise ValueError(f"a feature is listed twice: {names}")
            return names

    config: Config

    @classmethod
    def required_extras(cls, config: Any, *, fitting: bool) -> tuple[str, ...]:
        """The ranker's extra (LightGBM: ``ranking``; the neural ranker: ``torch``), what each model
        source needs, and FAISS (``serve``) for ANN sources."""

        def field(spec: Any, name: str, default: Any = None) -> Any:  # a spec object, or its raw mapping
            return spec.get(name, default) if isinstance(spec, dict) else getattr(spec, name, default)

        extras: list[str] = ["ranking" if field(config.ranker, "name", "lightgbm") == "lightgbm" else "torch"]
        for spec in config.sources.values():
            kind = field(spec, "kind", "model")
            if kind in ("model", "ann"):
                part = get_model_class(field(spec, "model", "two_tower"))
                hyper = split_train_overrides(field(spec, "params") or {})[0]
                extras += part.required_extras(part.Config(**hyper), fitting=fitting)
            if kind == "ann":
                extras.append("serve")
        return tuple(dict.fromkeys(extras))

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.sources: list[Source] = []
        self.ranker: Ranker | None = None
        self.tables: HistoryTables | None = None
        self.histories: Histories | None = None
        #: price of each history entry (aligned with ``histories.items``) when price features are used
        self.history_prices: np.ndarray | None = None
        self.now = 0
        self.report: dict[str, Any] = {}
        self._fallback: np.ndarray | None = None

    # ------------------------------------------------------------------ fitted state, narrowed once per call
    @property
    def _fitted_histories(self) -> Histories:
        return self._fitted(self.histories, "histories")

    @property
    def _fitted_tables(self) -> HistoryTables:
        return self._fitted(self.tables, "feature tables")

    @property
    def _fitted_ranker(self) -> Ranker:
        return self._fitted(self.ranker, "ranker")

    @property
    def _fallback_row(self) -> np.ndarray:
        return self._fitted(self._fallback, "fallback scores")

    # ------------------------------------------------------------------ data checks (before any work)
    def with_side_data(self, side: SideData | None) -> Self:
        super().with_side_data(side)
        if side is not None:
            self._check_data(side)
        return self

    def _check_data(self, side: SideData | None) -> None:
        """What the config asks of the data set: a price column for price features, the item
        columns of group features and same_group sources."""
        cfg = self.config
        items = set(side.items.columns) if side is not None and side.items is not None else None
        columns = {Columns.User, Columns.Item, Columns.Timestamp, Columns.Weight}
        if any(PRICE in FEATURES[n].needs for n in cfg.features):
            columns |= store_columns(side.feature_store if side is not None else None)
        check_features(cfg.features, columns=columns, key=f"{self.name}.features")
        if any(FEATURES[n].table == "group" for n in cfg.features):
            if not cfg.aggregates.groups:
                raise ConfigError(
                    f"{self.name}.features: group features {[n for n in cfg.features if FEATURES[n].table == 'group']} "
                    f"need item columns in {self.name}.aggregates.groups (e.g. [product_type_name])"
                )
            check_groups(cfg.aggregates.groups, items, f"{self.name}.aggregates.groups")
        for name, spec in cfg.sources.items():
            if spec.kind == "same_group":
                check_groups([spec.column], items, f"{self.name}.sources.{name}.column")

    def _needs_price(self) -> bool:
        return any(PRICE in FEATURES[n].needs for n in self.config.features)

    # ------------------------------------------------------------------ fitting
    def _fit(self, interactions: Interactions) -> None:
        self._check_data(self.side)
        cfg = self.config
        started = time.perf_counter()
        history, labels = self._holdout(interactions)
        log(f"two_stage: holdout {cfg.holdout.method}: {len(history)} history, {len(labels)} label interactions")
        inner_ctx = Context(Histories.from_interactions(history), _now(history))
        sources = self._fit_sources(FitData(history, self.side, inner_ctx, cfg.seed, valid=labels))
        tables = self._tables(history)
        data, report = self._training_data(sources, tables, history, labels, inner_ctx)
        if len(data.users) == 0:
            raise RecsmithError(
                "two_stage: no holdout user has a relevant item among their candidates, so the ranker has "
                "nothing to learn from; raise the sources' n or check the holdout"
            )
        self.ranker = make_ranker(cfg.ranker)
        self.ranker.fit(data, cfg.seed)
        # refit everything on all the data; torch sources for the epoch count found on the holdout
        epochs = {s.name: s.best_epoch for s in sources if s.best_epoch is not None}
        self.histories = Histories.from_interactions(interactions)
        self.now = _now(interactions)
        self.sources = self._fit_sources(
            FitData(interactions, self.side, Context(self.histories, self.now), cfg.seed, epochs=epochs)
        )
        self.tables = self._tables(interactions)
        if self._needs_price():
            self.history_prices = _history_prices(self._with_price(interactions.frame))
        self._fallback = _fallback_scores(self._fitted(self._popularity, "item popularity"))
        report["ranker"] = {"rows": len(data.users), "users": len(np.unique(data.users)), "features": data.names}
        report["epochs"] = epochs
        report["fit_seconds"] = round(time.perf_counter() - started, 1)
        self.report = report

    def _holdout(self, interactions: Interactions) -> tuple[Interactions, Interactions]:
        h = self.config.holdout
        if h.method == "last":
            cfg = SplitConfig(method="last_n", n=h.n, valid=False, min_interactions=h.min_history + h.n)
        else:
            last = _now(interactions) - 1
            start = (last // DAY + 1) * DAY - int(h.days * DAY)
            cfg = SplitConfig(method="temporal", test_time=start, valid=False, drop_cold_users=True)
        try:
            parts = split(interactions, cfg)
        except RecsmithError as err:
            raise RecsmithError(f"two_stage.holdout: {err}") from None
        return parts.train, parts.test

    def _fit_sources(self, data: FitData) -> list[Source]:
        out = []
        for name, spec in self.config.sources.items():
            start = time.perf_counter()
            source = make_source(name, spec)
            source.fit(data)
            log(
                f"two_stage: source {name} ({spec.kind}) fitted on {len(data.interactions)} in {time.perf_counter() - start:.1f}s"
            )
            out.append(source)
        return out

    def _with_price(self, frame: pl.DataFrame) -> pl.DataFrame:
        if not self._needs_price():
            return frame
        store = self.side.feature_store if self.side is not None else None
        if store is None:  # _check_data refuses this config before any work; kept for direct callers
            raise ConfigError(f"{self.name}.features: price features need the dataset's feature store")
        return attach_interaction_columns(frame, store, [PRICE])

    def _tables(self, interactions: Interactions) -> HistoryTables:
        frame = self._with_price(interactions.frame)
        items = self.side.items if self.side is not None else None
        groups = {c: item_group_codes(items, c) for c in self.config.aggregates.groups} if items is not None else {}
        return HistoryTables.compute(frame.lazy(), self.config.features, self.config.aggregates, item_groups=groups)

    def _training_data(
        self, sources: list[Source], tables: HistoryTables, history: Interactions, labels: Interactions, ctx: Context
    ) -> tuple[RankingData, dict[str, Any]]:
        """The ranker's rows: candidates of the holdout users with their features and labels, only
        for users with at least one relevant candidate (and at most ``negatives`` others)."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        users = labels.users()
        if cfg.holdout.max_users is not None and len(users) > cfg.holdout.max_users:
            users = np.sort(rng.choice(users, cfg.holdout.max_users, replace=False))
        truth = labels.binary
        label_frame = (
            labels.frame.select(Columns.User, Columns.Item)
            .unique()
            .with_columns(pl.lit(1.0, pl.Float32).alias("_label"))
        )
        frames: list[pl.DataFrame] = []
        unions: list[pl.DataFrame] = []
        proposals_all: dict[str, list[np.ndarray]] = {}
        seen = history.binary
        for start in range(0, len(users), cfg.candidates.batch_users):
            batch = users[start : start + cfg.candidates.batch_users]
            proposals: dict[str, np.ndarray] = {}
            exclude = seen[batch] if cfg.candidates.filter_seen else None
            cands = candidates(
                sources, batch, ctx, exclude=exclude, max_per_user=cfg.candidates.max_per_user, proposals=proposals
            )
            for name, top in proposals.items():
                proposals_all.setdefault(name, []).append(top)
            unions.append(cands.select(Columns.User, Columns.Item))
            cands = cands.join(label_frame, on=[Columns.User, Columns.Item], how="left").with_columns(
                pl.col("_label").fill_null(0.0)
            )
            frames.append(_sample(cands, cfg.holdout.negatives, rng))
        report = {
            "holdout": recall_report(
                truth, users, {k: np.concatenate(v) for k, v in proposals_all.items()}, pl.concat(unions)
            )
        }
        for name, r in report["holdout"].items():
            log(
                f"two_stage: candidate recall on the holdout, {name}: {r['recall']:.4f} ({r['candidates_per_user']:.1f} per user)"
            )
        rows = pl.concat(frames).sort(Columns.User, Columns.Item)
        return self._ranking_data(rows, tables, sources, ctx.histories, labels="_label"), report

    def _ranking_data(
        self,
        rows: pl.DataFrame,
        tables: HistoryTables,
        sources: list[Source],
        histories: Histories,
        labels: str | None = None,
    ) -> RankingData:
        joined = tables.join(rows)
        names = feature_names(sources) + tables.columns
        return RankingData(
            users=joined[Columns.User].to_numpy().astype(np.int64),
            items=joined[Columns.Item].to_numpy().astype(np.int64),
            features=joined.select(names).to_numpy().astype(np.float32),
            names=names,
            labels=joined[labels].to_numpy().astype(np.float32) if labels else None,
            histories=histories,
        )

    # ------------------------------------------------------------------ scoring
    def _score(self, users: np.ndarray) -> np.ndarray:
        out = np.repeat(self._fallback_row[None, :], len(users), axis=0)
        step = self.config.candidates.batch_users
        ctx, tables = Context(self._fitted_histories, self.now), self._fitted_tables
        for start in range(0, len(users), step):
            batch = np.asarray(users[start : start + step], dtype=np.int64)
            self._rank_into(out[start : start + len(batch)], batch, ctx, tables)
        return out

    def _rank_into(self, out: np.ndarray, rows: np.ndarray, ctx: Context, tables: HistoryTables) -> None:
        """Write the ranker's scores of the candidates of ``rows`` (user ids, or session rows of
        ``ctx``) into ``out`` (one row each, pre-filled with the fallback)."""
        cands = self._candidates(rows, ctx)
        if len(cands) == 0:
            return
        data = self._ranking_data(cands, tables, self.sources, ctx.histories)
        scores = np.maximum(self._fitted_ranker.predict(data), FALLBACK + 2.0)
        position = np.full(int(rows.max()) + 1, -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        out[position[data.users], data.items] = scores

    def _candidates(self, rows: np.ndarray, ctx: Context | None = None) -> pl.DataFrame:
        cfg = self.config.candidates
        ctx = ctx or Context(self._fitted_histories, self.now)
        exclude = None
        if cfg.filter_seen:
            exclude = self.seen[rows] if ctx.real_users is None else _session_rows(ctx.histories, rows)
        return candidates(self.sources, rows, ctx, exclude=exclude, max_per_user=cfg.max_per_user)

    # ------------------------------------------------------------------ the sessions abilities
    def list_size(self) -> int:
        """The most candidates a history can have: the sources' ``n`` summed, capped by ``max_per_user``."""
        total = sum(spec.n for spec in self.config.sources.values())
        cap = self.config.candidates.max_per_user
        return min(total, cap) if cap is not None else total

    def unlisted_scores(self) -> np.ndarray:
        """The popularity fallback every non-candidate item gets (below every candidate's score)."""
        self._check_fitted()
        return self._fallback_row

    def training_history(self, user: int) -> np.ndarray:
        self._check_fitted()
        return np.array(self._fitted_histories.of(int(self._checked_users([user])[0])), dtype=np.int64)

    def session_scores(
        self, sessions: Sessions, *, users: Any = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """Scores after arbitrary histories: a known user's training items keep their times (and
        prices); other items happened "now" (the end of the fitted data), or at ``timestamps``."""
        self._check_fitted()
        lists = session_lists(sessions, self.n_items)
        real = session_users(users, len(lists))
        self._checked_users(real[real >= 0])
        frame = self._session_frame(lists, real, timestamps)
        histories = Histories.from_interactions(Interactions(frame, len(lists), self.n_items))
        ctx = Context(histories, self.now, real_users=real, trained=self._fitted_histories)
        tables = self._fitted_tables.for_histories(frame, self.config.aggregates)
        out = np.repeat(self._fallback_row[None, :], len(lists), axis=0)
        if lists:
            self._rank_into(out, np.arange(len(lists)), ctx, tables)
        return out

    def _session_frame(
        self, lists: list[np.ndarray], real: np.ndarray, timestamps: list[list[int]] | None
    ) -> pl.DataFrame:
        """The sessions as interactions (``user`` = session row), with times and prices."""
        rows, items, times, prices = [], [], [], []
        item_price = self._item_prices()
        trained = self._fitted_histories
        for i, (items_i, user) in enumerate(zip(lists, real)):
            ts = np.full(len(items_i), self.now, dtype=np.int64)
            price = item_price[items_i] if item_price is not None else None
            if timestamps is not None:
                ts = np.asarray(timestamps[i], dtype=np.int64)
            elif user >= 0:  # the training prefix keeps its own times and prices
                a, b = trained.offsets[user], trained.offsets[user + 1]
                known = min(int(b - a), len(items_i))
                if np.array_equal(items_i[:known], trained.items[a : a + known]):
                    ts[:known] = trained.timestamps[a : a + known]
                    if price is not None and self.history_prices is not None:
                        price[:known] = self.history_prices[a : a + known]
            rows.append(np.full(len(items_i), i, dtype=np.int64))
            items.append(items_i)
            times.append(ts)
            prices.append(price if price is not None else np.zeros(0))
        frame = {
            Columns.User: np.concatenate(rows) if rows else np.zeros(0, np.int64),
            Columns.Item: np.concatenate(items) if items else np.zeros(0, np.int64),
            Columns.Timestamp: np.concatenate(times) if times else np.zeros(0, np.int64),
            Columns.Weight: np.ones(sum(len(x) for x in items), dtype=np.float32),
        }
        if item_price is not None:
            frame[PRICE] = np.concatenate(prices).astype(np.float32) if prices else np.zeros(0, np.float32)
        return pl.DataFrame(frame).with_columns(
            pl.col(Columns.User).cast(pl.Int32), pl.col(Columns.Item).cast(pl.Int32)
        )

    def _item_prices(self) -> np.ndarray | None:
        """Each item's mean price in the fitted data (NaN where unknown), for items in new events."""
        if not self._needs_price():
            return None
        item = self._fitted_tables.item
        out = np.full(self.n_items, np.nan, dtype=np.float32)
        if "_item_price" in item.columns:
            out[item[Columns.Item].to_numpy()] = item["_item_price"].to_numpy()
        return out

    def candidate_recall(self, truth: Interactions, users: np.ndarray | None = None) -> dict[str, dict[str, float]]:
        """Candidate recall of each source and of the union against ``truth`` (e.g. the test part):
        per user, the share of their ``truth`` items among the candidates the fitted model builds
        for them, averaged over ``users`` (default: every user in ``truth``)."""
        self._check_fitted()
        users = truth.users() if users is None else np.sort(np.asarray(users, dtype=np.int64))
        cfg = self.config.candidates
        proposals: dict[str, list[np.ndarray]] = {}
        unions = []
        for start in range(0, len(users), cfg.batch_users):
            batch = users[start : start + cfg.batch_users]
            found: dict[str, np.ndarray] = {}
            exclude = self.seen[batch] if cfg.filter_seen else None
            ctx = Context(self._fitted_histories, self.now)
            unions.append(
                candidates(self.sources, batch, ctx, exclude=exclude, max_per_user=cfg.max_per_user, proposals=found)
            )
            for name, top in found.items():
                proposals.setdefault(name, []).append(top)
        merged = {name: np.concatenate(parts) for name, parts in proposals.items()}
        return recall_report(truth.binary, users, merged, pl.concat(unions))

    def fallback_users(self, users: np.ndarray | list[int]) -> np.ndarray:
        """Boolean per user: True where no source proposed anything (the answer is the popularity fallback)."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        out = np.ones(len(users), dtype=bool)
        for start in range(0, len(users), self.config.candidates.batch_users):
            batch = users[start : start + self.config.candidates.batch_users]
            found = np.unique(self._candidates(batch)[Columns.User].to_numpy())
            out[start : start + len(batch)] = ~np.isin(batch, found)
        return out

    def feature_importance(self) -> dict[str, float]:
        """Gain per feature of the fitted ranker, largest first."""
        self._check_fitted()
        return dict(sorted(self._fitted_ranker.importance().items(), key=lambda kv: -kv[1]))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        path = super().save(path)
        atomic_write_text(path / "feature_importance.json", json.dumps(self.feature_importance(), indent=2))
        atomic_write_text(path / "candidates.json", json.dumps(self.report, indent=2, default=float))
        return path

    def _state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {"now": np.asarray(self.now, dtype=np.int64)}
        h = self._fitted_histories
        state.update({"histories.offsets": h.offsets, "histories.items": h.items, "histories.timestamps": h.timestamps})
        if self.history_prices is not None:
            state["histories.prices"] = self.history_prices
        for source in self.sources:
            state.update({f"source.{source.name}.{k}": v for k, v in source.state().items()})
        state.update({f"ranker.{k}": v for k, v in self._fitted_ranker.state().items()})
        state.update(self._fitted_tables.to_arrays("tables"))
        state["report"] = np.frombuffer(json.dumps(self.report, default=float).encode(), dtype=np.uint8)
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.now = int(state["now"])
        self.histories = Histories(
            state["histories.offsets"], state["histories.items"], state["histories.timestamps"], self.n_items
        )
        self.history_prices = state.get("histories.prices")
        self.sources = []
        for name, spec in self.config.sources.items():
            source = make_source(name, spec)
            prefix = f"source.{name}."
            source.load_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, self)
            self.sources.append(source)
        self.ranker = make_ranker(self.config.ranker)
        self.ranker.load_state({k[len("ranker.") :]: v for k, v in state.items() if k.startswith("ranker.")})
        self.tables = HistoryTables.from_arrays(state, "tables")
        self.report = json.loads(state["report"].tobytes().decode())
        self._fallback = _fallback_scores(self._fitted(self._popularity, "item popularity"))


def make_ranker(spec: Any) -> Ranker:
    if spec.name == "din":
        from recsmith.ranking.din import DINRanker

        return DINRanker(spec)
    return LightGBMRanker(spec)


def _now(interactions: Interactions) -> int:
    """One second after the last interaction: the reference time of the features and sources."""
    return int(interactions.frame.select(pl.col(Columns.Timestamp).max()).item()) + 1 if len(interactions) else 0


def _fallback_scores(popularity: np.ndarray) -> np.ndarray:
    pop = popularity.astype(np.float64)
    share = pop / pop.max() if pop.size and pop.max() > 0 else np.zeros_like(pop)
    return (FALLBACK + share).astype(np.float32)


def _session_rows(histories: Histories, rows: np.ndarray) -> sp.csr_matrix:
    """``(len(rows), n_items)`` 0/1 rows of the items in each session."""
    lengths = histories.lengths[rows]
    starts = histories.offsets[rows]
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
    r = np.repeat(np.arange(len(rows)), lengths)
    m = sp.csr_matrix((np.ones(len(pos)), (r, histories.items[pos])), shape=(len(rows), histories.n_items))
    m.data[:] = 1.0
    return m


def _history_prices(frame: pl.DataFrame) -> np.ndarray:
    """The ``price`` column in the order of :meth:`Histories.from_interactions` (user, time, row)."""
    order = frame.with_row_index("_row").sort([Columns.User, Columns.Timestamp, "_row"])
    return order[PRICE].to_numpy().astype(np.float32)


def _sample(cands: pl.DataFrame, negatives: int | None, rng: np.random.Generator) -> pl.DataFrame:
    """The candidates of users with at least one relevant one, and at most ``negatives`` others each."""
    cands = cands.filter(pl.col("_label").max().over(Columns.User) > 0)
    if negatives is None or len(cands) == 0:
        return cands
    draw = pl.Series("_draw", rng.random(len(cands)))
    cands = cands.with_columns(draw)
    order = pl.col("_draw").rank("ordinal").over([Columns.User, "_label"])
    return cands.filter((pl.col("_label") > 0) | (order <= negatives)).drop("_draw")
