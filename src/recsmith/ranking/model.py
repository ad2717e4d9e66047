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
from pydantic import Field, field_validator

from recsmith.config import SplitConfig
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
from recsmith.models.registry import register
from recsmith.ranking import config as C
from recsmith.ranking.candidates import candidates, feature_names, recall_report
from recsmith.ranking.rankers import LightGBMRanker, Ranker, RankingData
from recsmith.ranking.sources import Context, FitData, Source, make_source
from recsmith.utils.atomic import atomic_write_text
from recsmith.utils.logging import log

#: every non-candidate item scores FALLBACK + its popularity share (in [0, 1]): below any candidate
FALLBACK = -1.0e4
_DEFAULT_SOURCES = {"itemknn": {"kind": "model", "model": "itemknn"}, "popular": {"kind": "popular"}}


@register("two_stage")
class TwoStage(Recommender):
    """Two-stage recommendation; see the module docstring."""

    uses_side_data = True

    class Config(ModelConfig):
        sources: Annotated[
            dict[str, C.SourceSpec], C.checked(dict[str, C.SourceSpec], "sources", C.SOURCE_CLASSES, tag_at=1)
        ] = Field(
            default_factory=lambda: dict(_DEFAULT_SOURCES),
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
        seed: int = 0

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

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.sources: list[Source] = []
        self.ranker: Ranker | None = None
        self.tables: HistoryTables | None = None
        self.histories: Histories | None = None
        self.now = 0
        self.report: dict[str, Any] = {}
        self._fallback: np.ndarray | None = None

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
        self._fallback = _fallback_scores(self._popularity)
        report["ranker"] = {"rows": len(data.users), "users": len(np.unique(data.users)), "features": data.names}
        report["epochs"] = epochs
        report["fit_seconds"] = round(time.perf_counter() - started, 1)
        self.report = report

    def _holdout(self, interactions: Interactions) -> tuple[Interactions, Interactions]:
        h = self.config.holdout
        if h.method == "last":
            cfg = SplitConfig(method="last_n", n=h.n, valid=False, min_interactions=h.min_history + h.n)
        else:
            last = int(interactions.frame[Columns.Timestamp].max())
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

    def _tables(self, interactions: Interactions) -> HistoryTables:
        frame = interactions.frame
        if self._needs_price():
            frame = attach_interaction_columns(frame, self.side.feature_store, [PRICE])
        groups = {c: item_group_codes(self.side.items, c) for c in self.config.aggregates.groups} if self.side else {}
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
        frames, proposals_all, unions = [], {}, []
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
        out = np.repeat(self._fallback[None, :], len(users), axis=0)
        step = self.config.candidates.batch_users
        for start in range(0, len(users), step):
            batch = np.asarray(users[start : start + step], dtype=np.int64)
            cands = self._candidates(batch)
            if len(cands) == 0:
                continue
            data = self._ranking_data(cands, self.tables, self.sources, self.histories)
            scores = np.maximum(self.ranker.predict(data), FALLBACK + 2.0)
            position = {int(u): i for i, u in enumerate(batch)}
            rows = np.array([position[int(u)] for u in data.users], dtype=np.int64) + start
            out[rows, data.items] = scores
        return out

    def _candidates(self, users: np.ndarray) -> pl.DataFrame:
        cfg = self.config.candidates
        exclude = self._seen[users] if cfg.filter_seen else None
        ctx = Context(self.histories, self.now)
        return candidates(self.sources, users, ctx, exclude=exclude, max_per_user=cfg.max_per_user)

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
            exclude = self._seen[batch] if cfg.filter_seen else None
            ctx = Context(self.histories, self.now)
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
        return dict(sorted(self.ranker.importance().items(), key=lambda kv: -kv[1]))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        path = super().save(path)
        atomic_write_text(path / "feature_importance.json", json.dumps(self.feature_importance(), indent=2))
        atomic_write_text(path / "candidates.json", json.dumps(self.report, indent=2, default=float))
        return path

    def _state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {"now": np.asarray(self.now, dtype=np.int64)}
        h = self.histories
        state.update({"histories.offsets": h.offsets, "histories.items": h.items, "histories.timestamps": h.timestamps})
        for source in self.sources:
            state.update({f"source.{source.name}.{k}": v for k, v in source.state().items()})
        state.update({f"ranker.{k}": v for k, v in self.ranker.state().items()})
        state.update(self.tables.to_arrays("tables"))
        state["report"] = np.frombuffer(json.dumps(self.report, default=float).encode(), dtype=np.uint8)
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.now = int(state["now"])
        self.histories = Histories(
            state["histories.offsets"], state["histories.items"], state["histories.timestamps"], self.n_items
        )
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
        self._fallback = _fallback_scores(self._popularity)


def make_ranker(spec: Any) -> Ranker:
    if spec.name == "din":
        from recsmith.ranking.din import DINRanker

        return DINRanker(spec)
    return LightGBMRanker(spec)


def _now(interactions: Interactions) -> int:
    """One second after the last interaction: the reference time of the features and sources."""
    return int(interactions.frame[Columns.Timestamp].max()) + 1 if len(interactions) else 0


def _fallback_scores(popularity: np.ndarray) -> np.ndarray:
    pop = popularity.astype(np.float64)
    share = pop / pop.max() if pop.size and pop.max() > 0 else np.zeros_like(pop)
    return (FALLBACK + share).astype(np.float32)


def _sample(cands: pl.DataFrame, negatives: int | None, rng: np.random.Generator) -> pl.DataFrame:
    """The candidates of users with at least one relevant one, and at most ``negatives`` others each."""
    cands = cands.filter(pl.col("_label").max().over(Columns.User) > 0)
    if negatives is None or len(cands) == 0:
        return cands
    draw = pl.Series("_draw", rng.random(len(cands)))
    cands = cands.with_columns(draw)
    order = pl.col("_draw").rank("ordinal").over([Columns.User, "_label"])
    return cands.filter((pl.col("_label") > 0) | (order <= negatives)).drop("_draw")
