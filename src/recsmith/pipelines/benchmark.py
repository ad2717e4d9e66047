"""The leaderboard: train and evaluate several models on one split of one prepared dataset.

Protocol, per model:

1. every hyperparameter combination (``tune`` in the config, else the single ``models`` entry) is
   fitted on *train* and scored on *validation*; the best by ``evaluation.select_metric`` wins;
2. the winner is refitted on *train + validation* (its fit time is the reported ``fit_seconds``)
   and scored once on *test*, with train + validation items filtered as seen.

Torch models (trained by the :class:`~recsmith.training.trainer.Trainer`, with the run's ``train``
section under their own ``models.<name>.train`` overrides) early-stop on validation in step 1; the
refit in step 2 then trains for the best epoch count found there, without validation.

Every model gets the dataset's item / user tables (:class:`~recsmith.data.side.SideData`); only
content-aware models read them.

Without a validation part, the single configuration is fitted on train and scored on test.
Test numbers are therefore never used to choose anything.

Once every model is scored, the test lists get beyond-accuracy metrics, every metric a bootstrap
confidence interval, and every model a paired comparison with ``evaluation.baseline`` (see
:mod:`recsmith.evaluation.analysis` and docs/evaluation.md).

The run directory is written atomically, in the layout of :mod:`recsmith.runs.layout`; its
``leaderboard.json`` holds per model::

    {"valid": {...}, "test": {...}, "fit_seconds": ..., "params": {...}, "tuning": [...],
     "eval_seconds": ..., "total_seconds": ..., "beyond": {...}, "ci": {...}, "vs_baseline": {...}}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsmith.config import RunConfig
from recsmith.data.dataset import Dataset
from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.data.splits import Split, split
from recsmith.evaluation import evaluate
from recsmith.evaluation.analysis import EvalContext, ModelEval, analyse, cold_item_metrics
from recsmith.evaluation.store import save_evaluations
from recsmith.models.base import Recommender
from recsmith.pipelines.builder import build_model, check_models, side_data, with_run_seed
from recsmith.runs.layout import LEADERBOARD, model_dir, write_json, write_run_record
from recsmith.utils.atomic import atomic_dir, check_output
from recsmith.utils.logging import log


@dataclass
class ModelResult:
    name: str
    params: dict[str, Any]
    valid: dict[str, float]
    test: dict[str, float]
    fit_seconds: float
    eval_seconds: float
    tuning: list[dict[str, Any]] = field(default_factory=list)
    #: per-user test metrics and top-K lists (kept in eval/, not in the JSON)
    evaluation: ModelEval | None = None
    #: beyond / ci / vs_baseline, filled in once every model is evaluated
    analysis: dict[str, Any] = field(default_factory=dict)
    #: wall time of the whole protocol for this model: selection, refit and test evaluation
    total_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "test": self.test,
            "fit_seconds": round(self.fit_seconds, 3),
            "eval_seconds": round(self.eval_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
            "params": self.params,
            "tuning": self.tuning,
            **self.analysis,
        }


def run_benchmark(
    dataset: Dataset,
    cfg: RunConfig,
    models: list[str],
    out: str | Path,
    *,
    dataset_path: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, dict[str, Any]]:
    """Split ``dataset``, train and evaluate ``models``, write the run directory; return the leaderboard."""
    check_models(cfg, models)  # a typo, a missing extra or an existing run stops before any training
    check_output(out, overwrite=overwrite)
    parts = split(dataset.interactions, cfg.split)
    log(f"split {cfg.split.method}: {parts.summary()}")
    side = side_data(dataset, dataset_path)
    results: dict[str, ModelResult] = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name in models:
            result, model = evaluate_model(name, parts, cfg, side)
            results[name] = result
            model.save(model_dir(tmp, name))
            _write_history(model_dir(tmp, name), model)
            select = cfg.evaluation.select_metric
            log(
                f"{name}: valid {select}={result.valid.get(select, float('nan')):.4f} "
                f"test {select}={result.test.get(select, float('nan')):.4f} fit {result.fit_seconds:.1f}s"
            )
        _analyse(results, parts, dataset, cfg)
        evals = {name: r.evaluation for name, r in results.items() if r.evaluation is not None}
        save_evaluations(tmp, evals, parts, ks=cfg.evaluation.ks, filter_seen=cfg.evaluation.filter_seen)
        board = {name: r.to_json() for name, r in results.items()}
        _write_run(tmp, dataset, dataset_path, cfg, parts, board)
    return board


def _write_history(model_dir: Path, model: Any) -> None:
    """A trained torch model's per-epoch log (``model.history``) as ``metrics.jsonl``, one epoch a line:
    what the report's training-curve figure reads. Models without one write nothing."""
    history = getattr(model, "history", None)
    if history:
        lines = (json.dumps(epoch, default=float) + "\n" for epoch in history)
        (model_dir / "metrics.jsonl").write_text("".join(lines))


def _analyse(results: dict[str, ModelResult], parts: Split, dataset: Dataset, cfg: RunConfig) -> None:
    """Beyond-accuracy metrics, intervals and baseline comparisons of every model, on test."""
    ev = cfg.evaluation
    evals = {name: r.evaluation for name, r in results.items() if r.evaluation is not None}
    if not evals:
        return
    ctx = EvalContext.from_items(parts.train_full(), parts.test, dataset.items, filter_seen=ev.filter_seen)
    k = int(ev.select_metric.split("@")[-1]) if "@" in ev.select_metric else None
    analysis = analyse(
        evals,
        ctx,
        ks=ev.ks,
        k=k if k in ev.ks else None,
        baseline=ev.baseline,
        n_bootstrap=ev.bootstrap,
        alpha=ev.alpha,
        seed=cfg.seed,
    )
    for name, extra in analysis.items():
        results[name].analysis = extra
    cold = cold_item_metrics(evals, ctx, ks=ev.ks, n_bootstrap=ev.bootstrap, seed=cfg.seed)
    for name, block in cold.items():
        results[name].analysis["cold_items"] = block


def evaluate_model(name: str, parts: Split, cfg: RunConfig, side: SideData | None = None) -> tuple[ModelResult, Any]:
    """Select ``name``'s hyperparameters on validation, refit on train+valid, score on test."""
    started = time.perf_counter()
    ev = cfg.evaluation
    grid = [with_run_seed(cfg, name, params) for params in cfg.model_grid(name)]
    tuning: list[dict[str, Any]] = []
    best_params, best_valid, best_epochs = grid[0], {}, None
    if parts.valid is not None and len(parts.valid):
        best_score = float("-inf")
        for params in grid:
            model, epochs = fit_model(name, params, parts.train, cfg, side, valid=parts.valid)
            metrics = _evaluate(model, parts.valid, cfg)
            entry = {"params": params, ev.select_metric: metrics.get(ev.select_metric)}
            if epochs is not None:
                entry["best_epoch"] = epochs
            tuning.append(entry)
            if metrics.get(ev.select_metric, float("-inf")) > best_score:
                best_score, best_params, best_valid, best_epochs = metrics[ev.select_metric], params, metrics, epochs
    train = parts.train_full()
    start = time.perf_counter()
    model, _ = fit_model(name, best_params, train, cfg, side, epochs=best_epochs)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    full = evaluate(
        model,
        parts.test,
        ks=ev.ks,
        filter_seen=ev.filter_seen,
        batch_size=ev.batch_size,
        return_per_user=True,
        return_lists=True,
    )
    eval_seconds = time.perf_counter() - start
    test = {k: float(v) for k, v in full.items() if k not in ("per_user", "lists")}
    result = ModelResult(
        name,
        best_params,
        best_valid,
        test,
        fit_seconds,
        eval_seconds,
        tuning,
        ModelEval.from_result(full),
        total_seconds=time.perf_counter() - started,
    )
    return result, model


def fit_model(
    name: str,
    params: dict[str, Any],
    train: Interactions,
    cfg: RunConfig,
    side: SideData | None,
    *,
    valid: Interactions | None = None,
    epochs: int | None = None,
) -> tuple[Recommender, int | None]:
    """Fit one model; returns it and, for a torch model that early-stopped on ``valid``, its best epoch.

    Torch models train under the run's ``train`` section with their overrides; ``epochs`` fixes the
    epoch count and turns early stopping off (the refit on train + validation).
    """
    built = build_model(cfg, name, params, side=side)
    if built.train_config is None:
        return built.model.fit(train), None
    from recsmith.training.trainer import Trainer

    model, train_cfg = built.for_trainer()
    train_cfg = train_cfg if epochs is None else train_cfg.with_fixed_epochs(epochs)
    result = Trainer(train_cfg.in_memory()).fit(model, train, valid)
    return model, result.best_epoch if valid is not None and len(valid) else None


def _evaluate(model: Any, target: Interactions, cfg: RunConfig) -> dict[str, float]:
    ev = cfg.evaluation
    metrics = evaluate(model, target, ks=ev.ks, filter_seen=ev.filter_seen, batch_size=ev.batch_size)
    return {k: float(v) for k, v in metrics.items()}


def _write_run(
    tmp: Path,
    dataset: Dataset,
    dataset_path: str | Path | None,
    cfg: RunConfig,
    parts: Split,
    board: dict[str, Any],
) -> None:
    write_json(tmp, LEADERBOARD, board)
    (tmp / "leaderboard.md").write_text(leaderboard_markdown(board, cfg, dataset.manifest.get("name", "dataset")))
    write_run_record(
        tmp, kind="benchmark", dataset=dataset, dataset_path=dataset_path, cfg=cfg, parts=parts, models=list(board)
    )


def leaderboard_markdown(board: dict[str, Any], cfg: RunConfig, dataset_name: str) -> str:
    """The leaderboard as Markdown: test accuracy (with the selection metric's interval and the
    verdict against the baseline), then the beyond-accuracy metrics."""
    ks = cfg.evaluation.ks
    metric_cols = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall")] + [
        f"{m}@{ks[-1]}" for m in ("mrr", "hit", "map")
    ]
    select = cfg.evaluation.select_metric
    baseline = next((r["vs_baseline"]["baseline"] for r in board.values() if "vs_baseline" in r), None)
    level = next((r["ci"]["level"] for r in board.values() if "ci" in r), None)
    header = ["model", f"valid {select}", *[f"test {c}" for c in metric_cols], "fit s"]
    if level is not None:
        header.append(f"test {select} {level:.0%} CI")
    if baseline is not None:
        header.append(f"vs {baseline} ({select})")
    lines = [
        f"# Leaderboard: {dataset_name}",
        "",
        f"Split `{cfg.split.method}`; full ranking over all items; seen items "
        f"{'filtered' if cfg.evaluation.filter_seen else 'kept'}; "
        + (
            f"hyperparameters chosen on validation by {select}, then refitted on train + validation and scored "
            "once on test."
            if cfg.split.valid
            else "no validation part (split.valid=false): each model's one configuration is fitted on train and "
            "scored once on test."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    ranked = sorted(board.items(), key=lambda kv: -kv[1]["test"].get(select, float("-inf")))
    for name, r in ranked:
        valid = r["valid"].get(select)
        row = [name, f"{valid:.4f}" if valid is not None else "-"]
        row += [f"{r['test'].get(c, float('nan')):.4f}" for c in metric_cols]
        row.append(f"{r['fit_seconds']:.2f}")
        if level is not None:
            lo, hi = r.get("ci", {}).get("test", {}).get(select, [None, None])
            row.append(f"[{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else "-")
        if baseline is not None:
            row.append(_verdict_cell(r.get("vs_baseline", {}), select))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if baseline is not None:
        lines += [
            f"Verdicts against `{baseline}` on the same test users: paired t-test and Wilcoxon signed-rank "
            f"test, Holm-adjusted across models, both below alpha = {cfg.evaluation.alpha} for "
            '"better" / "worse"; Cohen\'s d_z in brackets. Intervals: percentile bootstrap over users.',
            "",
        ]
    beyond = [(name, r["beyond"]) for name, r in ranked if r.get("beyond")]
    if beyond:
        k = beyond[0][1].get("k")
        cols = [c for c in beyond[0][1] if c != "k"]
        lines += [
            f"## Beyond accuracy (test, top-{k}; coverage at every cutoff)",
            "",
            "| model | " + " | ".join(cols) + " |",
            "|---|" + "|".join(["---:"] * len(cols)) + "|",
        ]
        for name, b in beyond:
            lines.append("| " + name + " | " + " | ".join(_fmt(b.get(c)) for c in cols) + " |")
        lines += ["", "Definitions: docs/evaluation.md.", ""]
    lines += _cold_items_markdown(ranked, ks, select)
    return "\n".join(lines)


def _cold_items_markdown(ranked: list[tuple[str, Any]], ks: list[int], select: str) -> list[str]:
    """The cold-item slice (test items never seen in train + validation), one row per model."""
    rows = [(name, r["cold_items"]) for name, r in ranked if r.get("cold_items")]
    if not rows:
        return []
    cols = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall")]
    cols += [select] if select not in cols else []
    first = rows[0][1]
    lines = [
        f"## Cold items (test, {first['n_items']} items without train + validation interactions)",
        "",
        "Each user's test items cut down to the cold ones; users without one are left out. With "
        "`split.cold_items` these are the held-out items (docs: recsmith.data.splits).",
        "",
        "| model | users | " + " | ".join(cols) + f" | {select} 95% CI |",
        "|---|---:|" + "|".join(["---:"] * len(cols)) + "|---:|",
    ]
    for name, c in rows:
        lo, hi = c.get("ci", {}).get(select, [None, None])
        ci = f"[{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else "-"
        lines.append(
            f"| {name} | {c['n_users']} | " + " | ".join(_fmt(c["metrics"].get(m)) for m in cols) + f" | {ci} |"
        )
    return [*lines, ""]


def _verdict_cell(block: dict[str, Any], metric: str) -> str:
    if block.get("is_baseline"):
        return "baseline"
    c = block.get("metrics", {}).get(metric)
    if not c:
        return "-"
    d = c.get("cohens_d")
    return f"{c['verdict']} (d={d:+.2f})" if d is not None and abs(d) != float("inf") else c["verdict"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
