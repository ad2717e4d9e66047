"""Rankers: models that order each user's candidates from their features.

A ranker learns from :class:`RankingData` (one row per (user, candidate), grouped by user, a 0/1
label per row) and predicts a score per row. Users whose candidates hold no relevant item teach a
listwise ranker nothing and are left out of training by the caller.

``lightgbm``: LightGBM LambdaRank (or XE-NDCG, or binary) over the feature matrix, early-stopped
on a seeded share of the users; persisted as LightGBM's own text model (no pickle). ``din``: see
:mod:`recsmith.ranking.din`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsmith.data.histories import Histories
from recsmith.errors import RecsmithError
from recsmith.utils.logging import log


@dataclass
class RankingData:
    """Rows of (user, candidate) sorted by user: ``features`` ``(n, F)`` float32 (NaN = missing),
    ``labels`` ``(n,)`` float32 (1 = relevant), and the users' histories (for rankers that read
    item sequences)."""

    users: np.ndarray
    items: np.ndarray
    features: np.ndarray
    names: list[str]
    labels: np.ndarray | None = None
    histories: Histories | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def group_sizes(self) -> np.ndarray:
        """Rows per user, in order (users are contiguous)."""
        if len(self.users) == 0:
            return np.empty(0, dtype=np.int64)
        cuts = np.flatnonzero(np.diff(self.users)) + 1
        return np.diff(np.concatenate([[0], cuts, [len(self.users)]]))

    def take(self, rows: np.ndarray) -> "RankingData":
        return RankingData(
            self.users[rows],
            self.items[rows],
            self.features[rows],
            self.names,
            None if self.labels is None else self.labels[rows],
            self.histories,
        )

    def split_users(self, share: float, seed: int) -> tuple["RankingData", "RankingData | None"]:
        """A seeded ``share`` of the users apart (for early stopping), or None when it is 0."""
        if share <= 0:
            return self, None
        distinct = np.unique(self.users)
        rng = np.random.default_rng(seed)
        held = rng.random(len(distinct)) < share
        if held.all() or not held.any():
            return self, None
        mask = np.isin(self.users, distinct[held])
        return self.take(np.flatnonzero(~mask)), self.take(np.flatnonzero(mask))


class Ranker(ABC):
    """Orders candidates; see the module docstring."""

    @abstractmethod
    def fit(self, data: RankingData, seed: int) -> None: ...

    @abstractmethod
    def predict(self, data: RankingData) -> np.ndarray:
        """``(n,)`` float64 scores, higher is better."""

    @abstractmethod
    def importance(self) -> dict[str, float]:
        """Each feature's importance (the total gain of its splits for LightGBM)."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def load_state(self, state: dict[str, np.ndarray]) -> None: ...


_THREADED_ROWS = 20_000  # predictions on fewer rows run on one thread


class LightGBMRanker(Ranker):
    def __init__(self, spec: Any, threads: int | None = None) -> None:
        self.spec = spec
        self.booster: Any = None
        self.names: list[str] = []
        self.best_iteration: int | None = None

    def _params(self, seed: int) -> dict[str, Any]:
        s = self.spec
        params = {
            "objective": s.objective,
            "learning_rate": s.learning_rate,
            "num_leaves": s.num_leaves,
            "min_data_in_leaf": s.min_data_in_leaf,
            "min_sum_hessian_in_leaf": s.min_sum_hessian_in_leaf,
            "feature_fraction": s.feature_fraction,
            "bagging_fraction": s.bagging_fraction,
            "bagging_freq": s.bagging_freq,
            "lambda_l2": s.lambda_l2,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if s.objective in ("lambdarank", "rank_xendcg"):
            params.update({"eval_at": [s.eval_at], "metric": "ndcg", "lambdarank_truncation_level": max(s.eval_at, 20)})
        else:
            params["metric"] = "auc"
        if s.threads is not None:
            params["num_threads"] = s.threads
        return params

    def fit(self, data: RankingData, seed: int) -> None:
        import lightgbm as lgb

        train, valid = data.split_users(self.spec.valid_share, seed)
        params = self._params(seed)
        dtrain = lgb.Dataset(train.features, train.labels, group=train.group_sizes(), feature_name=_safe(data.names))
        sets: list[lgb.Dataset] = []
        callbacks: list[Callable[..., Any]] = []
        if valid is not None:
            sets = [lgb.Dataset(valid.features, valid.labels, group=valid.group_sizes(), reference=dtrain)]
            callbacks = [lgb.early_stopping(self.spec.early_stopping_rounds, verbose=False)]
        self.booster = lgb.train(params, dtrain, self.spec.n_estimators, valid_sets=sets, callbacks=callbacks)
        self.best_iteration = self.booster.best_iteration or self.booster.current_iteration()
        self.names = list(data.names)
        score = self.booster.best_score.get("valid_0", {}) if valid is not None else {}
        log(f"two_stage: lightgbm ranker, {self.best_iteration} rounds; early-stopping users {dict(score)}")

    def predict(self, data: RankingData) -> np.ndarray:
        if self.booster is None:
            raise RecsmithError("the ranker is not fitted")
        if len(data.users) == 0:
            return np.empty(0)
        return self.booster.predict(
            data.features, num_iteration=self.best_iteration, num_threads=self.spec.threads or 0
        )

    def importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance("gain", iteration=self.best_iteration)
        return {name: float(g) for name, g in zip(self.names, gains)}

    def state(self) -> dict[str, np.ndarray]:
        text = self.booster.model_to_string(num_iteration=self.best_iteration)
        return {"model": np.frombuffer(text.encode(), dtype=np.uint8), "names": np.asarray(self.names, dtype=np.str_)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        import lightgbm as lgb

        self.booster = lgb.Booster(model_str=state["model"].tobytes().decode())
        self.best_iteration = None  # the saved text holds exactly the kept rounds
        self.names = [str(n) for n in state["names"]]


def _safe(names: list[str]) -> list[str]:
    """LightGBM refuses some characters in feature names (':' is fine, JSON specials are not)."""
    return [n.replace(":", "__") for n in names]
