"""``recsmith retrain``: served feedback -> a new dataset version -> a challenger -> a paired test
against the production version -> register -> promote only if it is not worse. One command for cron
or an orchestrator; production changes only in its last step, so a failure anywhere leaves it as it was.

Steps:

1. The production version of the registered model (the *champion*) and its lineage: the prepared
   dataset it was trained from (``--data`` overrides) and the run config (``--config`` overrides).
2. The service's feedback log after the last event an earlier retrain consumed (kept in the dataset
   manifest's ``lineage``), read by :func:`~recsmith.pipelines.feedback_log.read_feedback`:
   malformed rows and negative events are counted and reported, not learnt from.
3. A new dataset version ``OUT/data`` (:func:`~recsmith.data.append.append_interactions`): the old
   interactions plus the new ones, known ids keeping their indexes, new users and items numbered
   after them; the old dataset is not touched.
4. The newest time window: ``[T, t_max]`` with ``T = t_max - window_s + 1``. The *challenger* is the
   champion's model entry (same config) fitted on everything before ``T``, warm-started from the
   champion where the model allows (:class:`~recsmith.models.abilities.WarmStart`).
5. Both rank all items for every user with history before ``T`` and interactions in the window
   (items seen before ``T`` filtered; window items seen before are not targets). The champion ranks
   as the service serves it: its model plus the user's events before ``T`` that it was not trained
   on (fold-in / history / session scoring, :func:`recsmith.serving.online.scorer_for`); users it
   does not know get its cold-start answer from those events. Per-user ``evaluation.select_metric``
   values go to a paired t-test and Wilcoxon test (:func:`recsmith.evaluation.stats.paired_test`).
6. The challenger's configuration is refitted on the whole new dataset, exported as a bundle and
   registered with its lineage and the test; it is promoted when the rule allows (``not_worse``:
   unless the test says worse; ``better``: only if it says better; ``never``).

Everything lands in ``OUT/``: ``data/`` (the dataset version), ``run/`` (run record and model),
``bundle/``, and ``retrain.json`` (the report: feedback counts, dataset growth, the test, the
decision, the registered version).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from recsmith.config import RunConfig, load_config
from recsmith.data.append import UnknownPolicy, append_interactions
from recsmith.data.dataset import Dataset
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.splits import Split
from recsmith.errors import RecsmithError
from recsmith.evaluation.metrics import hit_matrix, per_user_metrics
from recsmith.evaluation.stats import BETTER, WORSE, paired_test
from recsmith.models.abilities import WarmStart
from recsmith.models.base import Recommender, top_k
from recsmith.pipelines.builder import build_model, side_data
from recsmith.pipelines.export import export_bundle
from recsmith.pipelines.feedback_log import read_feedback
from recsmith.runs.layout import RESULTS, model_dir, write_json, write_run_record
from recsmith.serving.bundle import Bundle
from recsmith.serving.online import scorer_for
from recsmith.serving.registry import ModelRegistry, sha256_file
from recsmith.training.fit import fit_model
from recsmith.utils.atomic import atomic_write_text
from recsmith.utils.logging import log

REPORT = "retrain.json"


class RetrainOptions(BaseModel):
    """Everything ``recsmith retrain`` takes (the CLI's options)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="registered model whose production version is the champion")
    feedback: Path = Field(description="the service's feedback log (STATE_DIR/feedback.sqlite3)")
    out: Path = Field(description="work directory: data/, run/, bundle/, retrain.json")
    registry: str | None = Field(None, description="registry URI (default: $RECSMITH_REGISTRY_URI or sqlite)")
    data: Path | None = Field(None, description="dataset to grow (default: the champion's, from its lineage)")
    config: Path | None = Field(None, description="run config (default: the champion's run config)")
    window_s: int = Field(7 * 86400, ge=1, description="length of the newest time window the test is on")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the paired test")
    promote: Literal["not_worse", "better", "never"] = Field("not_worse", description="when to promote")
    warm_start: bool = Field(True, description="start the fit from the champion where the model allows")
    unknown_users: UnknownPolicy = "add"
    unknown_items: UnknownPolicy = "add"
    min_interactions: int = Field(1, ge=1, description="fewer new interactions than this: nothing to retrain")
    overwrite: bool = False


def run_retrain(opts: RetrainOptions) -> dict[str, Any]:
    """The whole loop (module docstring); returns the report also written to ``OUT/retrain.json``."""
    started = time.perf_counter()
    registry = ModelRegistry(opts.registry)
    champion_version = registry.production(opts.model)
    if champion_version is None:
        raise RecsmithError(f"model {opts.model!r} has no production version: promote one first")
    champion = Bundle.load(registry.bundle_path(champion_version))
    data_path = opts.data or _lineage_path(champion_version.tags, "recsmith.dataset_path", "--data DATASET")
    base = Dataset.load(data_path)
    cfg = _run_config(opts, champion)
    entry = str((champion.manifest.get("source") or {}).get("model_entry") or champion.model.name)
    out = opts.out
    if out.exists() and any(out.iterdir()) and not opts.overwrite:
        raise RecsmithError(f"{out} is not empty: pass --overwrite or another --out")
    out.mkdir(parents=True, exist_ok=True)

    after = int(((base.manifest.get("lineage") or {}).get("feedback") or {}).get("last_id") or 0)
    threshold = (base.manifest.get("preparation") or {}).get("rating_threshold")
    feedback = read_feedback(opts.feedback, after_id=after, rating_threshold=threshold)
    log(
        f"feedback: {feedback.read} events after id {after}: {feedback.interactions.height} interactions, "
        f"{feedback.negative} negative, {sum(feedback.malformed.values())} malformed {feedback.malformed or ''}"
    )
    if feedback.interactions.height < opts.min_interactions:
        raise RecsmithError(
            f"{feedback.interactions.height} new interactions in {opts.feedback} after event {after} "
            f"(need {opts.min_interactions}): nothing to retrain; production is unchanged"
        )
    lineage = {
        "parent": {
            "path": str(Path(data_path).resolve()),
            "manifest_sha256": sha256_file(Path(data_path) / "manifest.json"),
        },
        "feedback": {"log": str(opts.feedback.resolve()), "after_id": after, **feedback.to_json()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    grown, appended = append_interactions(
        base,
        feedback.interactions.drop("event_id"),
        unknown_users=opts.unknown_users,
        unknown_items=opts.unknown_items,
        lineage=lineage,
    )
    grown.save(out / "data", overwrite=opts.overwrite)
    log(
        f"dataset {out / 'data'}: +{appended.appended} interactions, +{len(appended.new_users)} users, "
        f"+{len(appended.new_items)} items"
    )

    history, window, start = _window(grown.interactions, opts.window_s)
    side = side_data(grown, out / "data")
    challenger = _fit(cfg, entry, history, side, champion.model if opts.warm_start else None)
    comparison = compare_on_window(champion, challenger, grown, start, cfg, alpha=opts.alpha)
    log(
        f"window from {start}: challenger {comparison['metric']} {comparison['challenger']:.4f} vs champion "
        f"{comparison['champion']:.4f} (p_t={comparison['p_t']:.3g}, {comparison['verdict']}, {comparison['users']} users)"
    )

    final = _fit(cfg, entry, grown.interactions, side, challenger)
    bundle = _export(final, entry, cfg, grown, out, comparison, window)
    tags = {
        "recsmith.parent_version": str(champion_version.version),
        "recsmith.window_start": str(start),
        "recsmith.paired_test": json.dumps(comparison),
    }
    version = registry.register(
        bundle, opts.model, tags=tags, description=f"retrained from v{champion_version.version}"
    )
    promote = {"not_worse": comparison["verdict"] != WORSE, "better": comparison["verdict"] == BETTER, "never": False}[
        opts.promote
    ]
    if promote:
        registry.promote(
            opts.model, version.version, reason=f"retrain: {comparison['verdict']} than v{champion_version.version}"
        )
    report = {
        "model": opts.model,
        "champion_version": champion_version.version,
        "challenger_version": version.version,
        "promoted": promote,
        "rule": opts.promote,
        "comparison": comparison,
        "feedback": feedback.to_json(),
        "dataset": {
            "path": str((out / "data").resolve()),
            **appended.to_json(),
            "interactions": len(grown.interactions),
        },
        "warm_start": bool(opts.warm_start and isinstance(challenger, WarmStart)),
        "seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write_text(out / REPORT, json.dumps(report, indent=2, default=float))
    return report


# ---------------------------------------------------------------------- pieces
def _lineage_path(tags: dict[str, str], key: str, option: str) -> Path:
    value = tags.get(key)
    if not value or not Path(value).exists():
        raise RecsmithError(f"the production version's lineage has no usable {key} ({value!r}): pass {option}")
    return Path(value)


def _run_config(opts: RetrainOptions, champion: Bundle) -> RunConfig:
    if opts.config is not None:
        return load_config(opts.config)
    run = (champion.manifest.get("source") or {}).get("run")
    if run and (Path(run) / "config.yaml").is_file():
        return load_config(Path(run) / "config.yaml")
    raise RecsmithError("the champion's run config is gone (its run directory moved?): pass --config FILE")


def _window(data: Interactions, window_s: int) -> tuple[Interactions, Interactions, int]:
    """``(interactions before T, interactions from T on, T)`` for the newest ``window_s`` seconds."""
    start = int(data.frame[Columns.Timestamp].to_numpy().max()) - window_s + 1
    before = data.frame.filter(pl.col(Columns.Timestamp) < start)
    after = data.frame.filter(pl.col(Columns.Timestamp) >= start)
    if before.height == 0 or after.height == 0:
        raise RecsmithError(
            f"the newest {window_s} s leave {before.height} interactions before and {after.height} in the "
            "window: choose a --window that splits the data"
        )
    return Interactions(before, data.n_users, data.n_items), Interactions(after, data.n_users, data.n_items), start


def _fit(cfg: RunConfig, entry: str, train: Interactions, side: Any, previous: Recommender | None) -> Recommender:
    built = build_model(cfg, entry, side=side)
    model = built.model
    if previous is not None and isinstance(model, WarmStart) and type(previous) is type(model):
        try:
            model.warm_start_from(previous)
        except RecsmithError as err:  # another shape: a cold start is still a valid challenger
            log(f"no warm start: {err}")
    return fit_model(model, train, train_config=built.train_config)


def compare_on_window(
    champion: Bundle, challenger: Recommender, data: Dataset, start: int, cfg: RunConfig, *, alpha: float = 0.05
) -> dict[str, Any]:
    """Paired test of ``challenger`` against ``champion`` as served, on the window from ``start``
    (module docstring, step 5)."""
    frame = data.interactions.frame
    ts = pl.col(Columns.Timestamp)
    history = Interactions(frame.filter(ts < start), data.n_users, data.n_items).binary
    target = frame.filter(ts >= start)
    # targets: window items the user had not had before (what a filter-seen list can hit)
    seen_before = history[target[Columns.User].to_numpy(), target[Columns.Item].to_numpy()].A1 > 0
    target = target.filter(pl.Series(~seen_before))
    users = np.unique(target[Columns.User].to_numpy())
    users = users[np.diff(history.indptr)[users] > 0]
    if users.size == 0:
        raise RecsmithError("no user has both history before the window and new items in it: nothing to compare")
    relevant = target.group_by(Columns.User).agg(pl.col(Columns.Item).unique())
    relevant_of = dict(zip(relevant[Columns.User].to_list(), relevant[Columns.Item].to_list()))
    k = max(cfg.evaluation.ks)
    metric = cfg.evaluation.select_metric
    lists = {
        "challenger": _top(challenger.scores(users), history[users], k),
        "champion": _top(_champion_scores(champion, data, users, history), history[users], k),
    }
    per_user = {}
    for name, top in lists.items():
        hits, n_rel = hit_matrix(top, [np.asarray(relevant_of[int(u)]) for u in users])
        per_user[name] = per_user_metrics(hits, n_rel, cfg.evaluation.ks)
    if metric not in per_user["challenger"]:
        raise RecsmithError(f"evaluation.select_metric {metric!r} is not computed at evaluation.ks {cfg.evaluation.ks}")
    test = paired_test(
        per_user["challenger"][metric], per_user["champion"][metric], metric=metric, alpha=alpha, seed=cfg.seed
    )
    return {
        "metric": metric,
        "users": int(users.size),
        "window_start": start,
        "challenger": test.mean_a,
        "champion": test.mean_b,
        "diff": test.diff,
        "diff_ci": list(test.diff_ci),
        "p_t": test.p_t,
        "p_wilcoxon": test.p_wilcoxon,
        "cohens_d": test.cohens_d if np.isfinite(test.cohens_d) else None,
        "verdict": test.verdict,
        "alpha": alpha,
        "metrics": {name: {m: float(np.mean(v)) for m, v in pu.items()} for name, pu in per_user.items()},
    }


def _top(scores: np.ndarray, seen: Any, k: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float32).copy()
    rows, cols = seen.nonzero()
    scores[rows, cols] = -np.inf
    top, top_scores = top_k(scores, min(k, scores.shape[1]))
    top[~np.isfinite(top_scores)] = -1
    return top


def _champion_scores(champion: Bundle, data: Dataset, users: np.ndarray, history: Any) -> np.ndarray:
    """``(len(users), data.n_items)`` scores of the champion as served: its model, plus each user's
    pre-window events it was not trained on; items it does not know score ``-inf``."""
    model = champion.model
    scorer = scorer_for(model)
    item_in_champion = champion.item_map.to_internal(data.item_map.external_ids.to_list(), strict=False)
    known_items = np.flatnonzero(item_in_champion >= 0)
    user_in_champion = champion.user_map.to_internal(data.user_map.to_external(users), strict=False)
    pop_items, pop_scores = model.recommend_cold(model.n_items)
    popularity = np.full(model.n_items, -np.inf, dtype=np.float32)
    popularity[pop_items] = pop_scores
    out = np.full((users.size, data.n_items), -np.inf, dtype=np.float32)
    for row, (u, cu) in enumerate(zip(users.tolist(), user_in_champion.tolist())):
        items = history.indices[history.indptr[u] : history.indptr[u + 1]]
        mapped = item_in_champion[items]
        mapped = mapped[mapped >= 0]
        trained = model.seen_items(cu) if cu >= 0 else np.empty(0, dtype=np.int64)
        added = np.setdiff1d(mapped, trained)
        scores = scorer.scores(int(cu), added)
        out[row, known_items] = (popularity if scores is None else scores)[item_in_champion[known_items]]
    return out


def _export(
    model: Recommender,
    entry: str,
    cfg: RunConfig,
    data: Dataset,
    out: Path,
    comparison: dict[str, Any],
    window: Interactions,
) -> Path:
    """The refitted challenger as a run (record, model, results) and a bundle of it."""
    run = out / "run"
    parts = Split(train=data.interactions, valid=None, test=window)
    model.save(model_dir(run, entry))
    write_json(
        run,
        RESULTS,
        {
            "model": entry,
            "params": model.config.model_dump(mode="json"),
            "valid": {},
            "test": {},
            "window": comparison,
            "protocol": "refitted on the whole dataset version after a challenger of the same config, fitted "
            "before the window, was compared with the production version on it (window)",
        },
    )
    write_run_record(run, kind="train", dataset=data, dataset_path=out / "data", cfg=cfg, parts=parts, models=[entry])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return export_bundle(run, entry, out / "bundle", version=f"{entry}-retrain-{stamp}", overwrite=True)
