"""The numbers of a report: one JSON-ready dict per run, computed from :class:`RunData`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recsmith.evaluation.analysis import EvalContext, analyse, analyse_slices
from recsmith.evaluation.beyond import item_popularity
from recsmith.evaluation.metrics import hit_matrix, mean_metrics, per_user_metrics
from recsmith.reports.run import RunData
from recsmith.utils.logging import log

#: metrics drawn against K in the "metric vs K" plot
CURVE_METRICS = ("ndcg", "recall", "mrr")


@dataclass(frozen=True)
class ReportOptions:
    """What a report computes; every field has a command-line option of ``recsmith report``."""

    baseline: str | None = None  # default: the run's evaluation.baseline
    k: int | None = None  # cutoff of the tables; default: the middle of the run's ks
    category: str | None = None  # items-table column for diversity / calibration; default: guessed
    cold_start_max: int = 5
    n_quantiles: int = 4
    bootstrap: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    seed: int = 0
    sampled_negatives: int = 0  # > 0: also the sampled-negatives protocol, for contrast


def analyse_run(run: RunData, opts: ReportOptions) -> tuple[dict[str, Any], EvalContext]:
    """Everything the report shows about ``run`` (and the context, for the plots)."""
    ctx = EvalContext.from_items(run.train, run.test, run.items, opts.category, filter_seen=run.filter_seen)
    ks = sorted(run.ks)
    k = opts.k if opts.k in ks else ks[len(ks) // 2]
    if opts.k is not None and opts.k not in ks:
        log(f"{run.name}: k={opts.k} is not among the run's cutoffs {ks}; using {k}")
    baseline = opts.baseline or run.cfg.evaluation.baseline
    if baseline is not None and baseline not in run.evals:
        log(f"{run.name}: baseline {baseline!r} was not run; no comparisons")
        baseline = None
    per_model = analyse(
        run.evals,
        ctx,
        ks=ks,
        k=k,
        baseline=baseline,
        n_bootstrap=opts.bootstrap,
        confidence=opts.confidence,
        alpha=opts.alpha,
        seed=opts.seed,
    )
    models = {}
    for name, ev in run.evals.items():
        models[name] = {
            "test": {**mean_metrics(ev.per_user), "n_users": int(ev.users.size)},
            "fit_seconds": run.board.get(name, {}).get("fit_seconds"),
            "params": run.board.get(name, {}).get("params"),
            **per_model[name],
        }
    out: dict[str, Any] = {
        "name": run.name,
        "dataset": run.dataset_name,
        "path": str(run.path),
        "protocol": {
            "split": run.cfg.split.method,
            "filter_seen": run.filter_seen,
            "ks": ks,
            "n_users": run.test.n_users,
            "n_items": run.test.n_items,
            "test_users": int(run.test.users().size),
            "train_interactions": len(run.train),
            "test_interactions": len(run.test),
            "category_column": opts.category or _category_name(run),
            "n_categories": len(ctx.category_names),
            "recomputed": run.recomputed,
        },
        "k": k,
        "baseline": baseline,
        "models": models,
        "slices": analyse_slices(
            run.evals,
            ctx,
            ks=[k],
            cold_start_max=opts.cold_start_max,
            n_quantiles=opts.n_quantiles,
            n_bootstrap=opts.bootstrap,
            confidence=opts.confidence,
            seed=opts.seed,
        ),
        "by_k": metrics_by_k(run),
        "curves": sorted(run.curves),
    }
    if opts.sampled_negatives > 0:
        out["sampled"] = sampled_vs_full(run, k, opts.sampled_negatives, opts.seed)
    return out, ctx


def _category_name(run: RunData) -> str | None:
    from recsmith.evaluation.beyond import guess_category_column

    return guess_category_column(run.items)


def metrics_by_k(run: RunData) -> dict[str, dict[str, list[float]]]:
    """``{model: {metric: [value at K=1, ..., K=k_max]}}`` from the stored lists."""
    out = {}
    relevant = run.test.binary
    for name, ev in run.evals.items():
        width = ev.lists.shape[1]
        hits, n_rel = hit_matrix(ev.lists, relevant[ev.users])
        per_user = per_user_metrics(hits, n_rel, list(range(1, width + 1)), CURVE_METRICS)
        means = mean_metrics(per_user)
        out[name] = {m: [means[f"{m}@{k}"] for k in range(1, width + 1)] for m in CURVE_METRICS}
    return out


def popularity_shares(run: RunData, k: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Cumulative share of recommendations (and of test / training interactions) that go to the
    ``r`` most popular training items, for ``r = 1..n_items``: ``(ranks, {series: (n_items,)})``."""
    pop = item_popularity(run.train)
    order = np.lexsort((np.arange(pop.size), -pop))
    rank = np.empty(pop.size, dtype=np.int64)
    rank[order] = np.arange(pop.size)

    def cumulative(items: np.ndarray) -> np.ndarray:
        items = items[items >= 0]
        counts = np.bincount(rank[items], minlength=pop.size).astype(np.float64)
        return np.cumsum(counts) / max(counts.sum(), 1.0)

    series = {name: cumulative(ev.lists[:, :k].ravel()) for name, ev in run.evals.items()}
    series["test interactions"] = cumulative(run.test.frame["item"].to_numpy())
    series["training interactions"] = cumulative(run.train.frame["item"].to_numpy())
    return np.arange(1, pop.size + 1), series


def sampled_vs_full(run: RunData, k: int, n_negatives: int, seed: int) -> dict[str, Any]:
    """HitRate@k / NDCG@k of each saved model under sampled negatives, beside full ranking."""
    from recsmith.evaluation.sampled import evaluate_sampled
    from recsmith.models.base import Recommender

    rows = {}
    for name, ev in run.evals.items():
        model_dir = run.path / "models" / name
        if not model_dir.is_dir():
            continue
        model = Recommender.load(model_dir)
        sampled = evaluate_sampled(
            model, run.train, run.test, [k], n_negatives=n_negatives, seed=seed, filter_seen=run.filter_seen
        )
        full = mean_metrics(ev.per_user)
        rows[name] = {
            f"full hit@{k}": full.get(f"hit@{k}"),
            f"sampled hit@{k}": sampled[f"hit@{k}"],
            f"full ndcg@{k}": full.get(f"ndcg@{k}"),
            f"sampled ndcg@{k}": sampled[f"ndcg@{k}"],
        }
    return {"n_negatives": n_negatives, "k": k, "seed": seed, "models": rows}
