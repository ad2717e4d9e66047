"""Everything said about a set of models evaluated on the same split: beyond-accuracy metrics,
bootstrap intervals, paired comparisons with a baseline, and slices.

Inputs are plain arrays, so the same code serves the leaderboard (right after evaluation) and
``recsmith report`` (from the files a run directory keeps):

* :class:`ModelEval` -- one model's evaluated users, their top-K lists and per-user metrics
  (what :func:`~recsmith.evaluation.evaluate` returns with ``return_per_user`` and ``return_lists``);
* :class:`EvalContext` -- the training data the models were fitted on, the test data, and the item
  categories (for intra-list diversity and calibration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.evaluation import beyond as bm
from recsmith.evaluation.metrics import METRIC_NAMES, validate_ks
from recsmith.evaluation.slices import Slice, new_items, slice_per_user, standard_slices
from recsmith.evaluation.stats import (
    bootstrap_ci,
    bootstrap_statistic,
    compare_to_baseline,
    percentile_interval,
)

#: per-user beyond-accuracy metrics, in output order (set-level ones follow: coverage@K, ...)
PER_USER_BEYOND = ("novelty", "arp", "long_tail_share", "ild", "serendipity", "calibration")


@dataclass
class ModelEval:
    """One model's test evaluation: ``users`` (sorted int64), ``lists`` ``(n, K)`` item ids (``-1``
    pads) and ``per_user`` accuracy metrics, all aligned row by row."""

    users: np.ndarray
    lists: np.ndarray
    per_user: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> "ModelEval":
        """From :func:`~recsmith.evaluation.evaluate`'s output (``return_per_user=True, return_lists=True``)."""
        per_user = dict(result["per_user"])
        users = np.asarray(per_user.pop("user"), dtype=np.int64)
        return cls(users, np.asarray(result["lists"]), {k: np.asarray(v) for k, v in per_user.items()})


@dataclass
class EvalContext:
    """The data around an evaluation: ``train`` is what the models were *fitted* on (for the
    leaderboard: train + validation), ``test`` the held-out part; ``categories`` an optional
    ``(n_items, G)`` multi-hot matrix; ``item_features`` the vectors intra-list diversity uses
    (default: the categories)."""

    train: Interactions
    test: Interactions
    categories: sp.csr_matrix | None = None
    category_names: list[str] = field(default_factory=list)
    item_features: np.ndarray | sp.csr_matrix | None = None
    filter_seen: bool = True

    @classmethod
    def from_items(
        cls,
        train: Interactions,
        test: Interactions,
        items: pl.DataFrame | None,
        column: str | None = None,
        filter_seen: bool = True,
    ) -> "EvalContext":
        """Context whose categories come from ``column`` of the items table (guessed when None)."""
        column = column or bm.guess_category_column(items)
        categories: sp.csr_matrix | None = None
        names: list[str] = []
        if items is not None and column is not None:
            categories, names = bm.category_matrix(items, column, train.n_items)
        return cls(train, test, categories, names, filter_seen=filter_seen)

    @cached_property
    def popularity(self) -> np.ndarray:
        return bm.item_popularity(self.train)

    @cached_property
    def n_train_users(self) -> int:
        return int(np.count_nonzero(np.diff(self.train.binary.indptr)))

    @property
    def features(self) -> np.ndarray | sp.csr_matrix | None:
        return self.item_features if self.item_features is not None else self.categories

    def baseline_lists(self, users: np.ndarray, k: int) -> np.ndarray:
        """The popularity baseline's top-``k`` for ``users`` (what serendipity discounts)."""
        return bm.popularity_lists(self.train, users, k, filter_seen=self.filter_seen)


# ---------------------------------------------------------------------- beyond accuracy
def beyond_per_user(
    ev: ModelEval, ctx: EvalContext, k: int, baseline: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The per-user beyond-accuracy metrics at cutoff ``k`` (see :mod:`.beyond`); metrics whose
    inputs are missing (no categories) are left out."""
    lists = ev.lists[:, :k]
    out = {
        "novelty": bm.novelty(lists, ctx.popularity, ctx.n_train_users),
        "arp": bm.average_popularity(lists, ctx.popularity),
        "long_tail_share": bm.long_tail_share(lists, ctx.popularity),
    }
    if ctx.features is not None:
        out["ild"] = bm.intra_list_diversity(lists, ctx.features)
    if baseline is None:
        baseline = ctx.baseline_lists(ev.users, k)
    out["serendipity"] = bm.serendipity(lists, ctx.test.binary[ev.users], baseline[:, :k])
    if ctx.categories is not None:
        out["calibration"] = bm.calibration(lists, ctx.train.binary[ev.users], ctx.categories)
    return out


def _set_level(memberships: Mapping[int, sp.csr_matrix], k: int, k_max: int):
    """``statistic(W)`` for :func:`bootstrap_statistic`: coverage@K, catalog coverage, gini, personalisation."""

    def statistic(w: np.ndarray | None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for kk, m in memberships.items():
            x = np.atleast_2d(bm.exposure(m, w))  # once per cutoff: coverage and gini share it
            out[f"coverage@{kk}"] = (x > 0).mean(axis=1)
            if kk == k:
                gini = np.atleast_1d(bm.gini_index(x))
        out["catalog_coverage"] = out[f"coverage@{k_max}"]
        out["gini"] = gini
        out["personalisation"] = np.atleast_1d(bm.personalisation(memberships[k], w))
        return out

    return statistic


def analyse(
    evals: Mapping[str, ModelEval],
    ctx: EvalContext,
    *,
    ks: Sequence[int],
    k: int | None = None,
    baseline: str | None = None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Beyond-accuracy metrics, intervals and baseline comparison of every model.

    Args:
        evals: ``{model: ModelEval}`` on the same split; lists at least ``max(ks)`` wide.
        ks: the accuracy cutoffs (coverage is reported at each).
        k: cutoff of the other beyond-accuracy metrics (default: the middle of ``ks``, e.g. 10).
        baseline: model for ``vs_baseline`` (skipped when None or absent).
        n_bootstrap: resamples for every interval (0: no intervals).

    Returns:
        ``{model: {"beyond": {name: value}, "ci": {"test": {metric: [lo, hi]}, "beyond": {...}},
        "vs_baseline": {...}}}`` -- JSON-ready (``nan`` as None).
    """
    ks = sorted(validate_ks(ks))
    k = k or ks[len(ks) // 2]
    k_max = max(ks)
    out: dict[str, dict[str, Any]] = {}
    baseline_cache: dict[bytes, np.ndarray] = {}
    for name, ev in evals.items():
        key = ev.users.tobytes()
        if key not in baseline_cache:
            baseline_cache[key] = ctx.baseline_lists(ev.users, k)
        per_user = beyond_per_user(ev, ctx, k, baseline_cache[key])
        memberships = {kk: bm.list_matrix(ev.lists[:, :kk], ctx.train.n_items) for kk in sorted({*ks, k})}
        statistic = _set_level(memberships, k, k_max)
        beyond: dict[str, float | None] = {n: _finite(v[0]) for n, v in statistic(None).items()}
        beyond.update({n: _nanmean(v) for n, v in per_user.items()})
        result: dict[str, Any] = {"beyond": {"k": k, **beyond}}
        if n_bootstrap:
            acc = {m: v for m, v in ev.per_user.items() if _is_accuracy(m)}
            ci_acc = bootstrap_ci(acc, n_bootstrap, confidence, seed)
            ci_beyond = bootstrap_ci(per_user, n_bootstrap, confidence, seed)
            sets = bootstrap_statistic(statistic, ev.users.size, n_bootstrap, seed)
            for n, v in sets.items():  # set-level: re-centred (see stats.percentile_interval)
                ci_beyond[n] = percentile_interval(v, confidence, recentre=beyond[n], bounds=(0.0, 1.0))
            result["ci"] = {
                "level": confidence,
                "n_resamples": n_bootstrap,
                "test": {m: _json_pair(v) for m, v in ci_acc.items()},
                "beyond": {m: _json_pair(ci_beyond[m]) for m in beyond if m in ci_beyond},
            }
        out[name] = result
    if baseline is not None and baseline in evals and len(evals) > 1:
        metrics = [m for m in evals[baseline].per_user if _is_accuracy(m)]
        comparisons = compare_to_baseline(
            {n: e.per_user for n, e in evals.items()},
            {n: e.users for n, e in evals.items()},
            baseline,
            metrics,
            alpha=alpha,
            n_resamples=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
        for name in evals:
            block: dict[str, Any] = {"baseline": baseline, "alpha": alpha, "correction": "holm"}
            if name == baseline:
                block["is_baseline"] = True
            else:
                block["metrics"] = {m: c.to_json() for m, c in comparisons[name].items()}
            out[name]["vs_baseline"] = block
    return out


# ---------------------------------------------------------------------- slices
def analyse_slices(
    evals: Mapping[str, ModelEval],
    ctx: EvalContext,
    *,
    ks: Sequence[int],
    slices: Sequence[Slice] | None = None,
    cold_start_max: int = 5,
    n_quantiles: int = 4,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Accuracy metrics of every model on every slice (the standard ones unless given).

    Returns one entry per slice: ``{"name", "description", "kind", "models": {model: {"n_users",
    "metrics": {key: mean}, "ci": {key: [lo, hi]}}}}``.
    """
    ks = sorted(validate_ks(ks))
    if slices is None:
        all_users = np.unique(np.concatenate([e.users for e in evals.values()])) if evals else np.empty(0, np.int64)
        slices = standard_slices(ctx.train, ctx.test, all_users, cold_start_max=cold_start_max, n_quantiles=n_quantiles)
    relevant = ctx.test.binary
    out = []
    for sl in slices:
        models = {}
        for name, ev in evals.items():
            users, per_user = slice_per_user(sl, ev.users, ev.lists, relevant, ks, METRIC_NAMES)
            entry: dict[str, Any] = {
                "n_users": int(users.size),
                "metrics": {m: _nanmean(v) for m, v in per_user.items()},
            }
            if n_bootstrap and users.size:
                entry["ci"] = {
                    m: _json_pair(v) for m, v in bootstrap_ci(per_user, n_bootstrap, confidence, seed).items()
                }
            models[name] = entry
        out.append({"name": sl.name, "description": sl.description, "kind": sl.kind, "models": models})
    return out


def cold_item_metrics(
    evals: Mapping[str, ModelEval],
    ctx: EvalContext,
    *,
    ks: Sequence[int],
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Accuracy of every model on the cold-item slice: test items without any interaction in
    ``ctx.train`` (the ``new items`` slice; with ``split.cold_items`` it holds the held-out items).

    Each user's relevant set is cut down to those items (users without one are dropped), so the
    numbers say how well a model ranks items it never saw being consumed -- where collaborative
    models can only guess and content / hybrid models read the item text.

    Returns ``{model: {"n_items", "n_users", "metrics": {key: mean}, "ci": {key: [lo, hi]}}}``,
    or ``{}`` when no test item is cold.
    """
    sl = new_items(ctx.train, ctx.test)
    n_items = int(sl.items.sum()) if sl.items is not None else 0  # an item slice: always set
    if n_items == 0 or not evals:
        return {}
    [entry] = analyse_slices(evals, ctx, ks=ks, slices=[sl], n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    return {name: {"n_items": n_items, **block} for name, block in entry["models"].items()}


# ---------------------------------------------------------------------- helpers
def _is_accuracy(key: str) -> bool:
    return key.split("@")[0] in METRIC_NAMES and "@" in key


def _nanmean(v: np.ndarray) -> float | None:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else None


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _json_pair(pair: tuple[float, float]) -> list[float | None]:
    return [float(x) if np.isfinite(x) else None for x in pair]
