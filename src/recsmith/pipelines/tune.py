"""``recsmith tune``: an Optuna study of one model's hyperparameters, chosen on validation.

The search space is the run config's ``study.spaces.<model>`` (:mod:`recsmith.training.search_space`);
each trial draws a point (TPE by default), builds the model with it through the one builder
(:func:`~recsmith.pipelines.builder.build_model`), fits it on the split's *train* part and scores
``evaluation.select_metric`` on *validation*: the value the study maximises. Test is never touched.

Torch models report the Trainer's validation metric after every epoch (its ``on_epoch_end``
callbacks); the pruner (median by default) stops a trial whose curve falls behind the others', and
the trial is recorded as pruned with the epochs it ran. Other models have no epochs: they run whole.

The study directory::

    OUT/
      study.sqlite3      Optuna's storage: every trial, its parameters, per-epoch values and state.
                         A killed tune resumes from it (``--resume``): trials that were running are
                         marked failed and queued again, and only the missing trials run
      tune.lock          the process that is tuning now (a second tune on the same study is refused)
      mlflow.db          MLflow tracking (SQLite): one run for the study, one nested run per trial
      mlartifacts/       MLflow artifacts: the plots and best files, logged to the study's run
      history.png        optimisation history (value per trial, best so far)
      importance.png     parameter importances (fANOVA), once two trials have completed
      best.json          best value and parameters, trial counts by state, epochs run
      best_config.yaml   the run config with the best parameters in ``models.<model>``: pass it to
                         ``recsmith benchmark --config`` or ``recsmith train --config`` as it is
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsmith.config import RunConfig, dump_config, validate_config
from recsmith.data.dataset import Dataset
from recsmith.data.splits import Split, split
from recsmith.errors import ConfigError, RecsmithError
from recsmith.evaluation import evaluate
from recsmith.pipelines.builder import build_model, registered_name, side_data
from recsmith.training.fit import fit_model
from recsmith.training.search_space import StudyConfig, nest, suggest
from recsmith.training.tracking import (
    MLFLOW_ARTIFACTS,
    MLFLOW_DB,
    experiment_id,
    mlflow_client,
    mlflow_name,
    sqlite_uri,
)
from recsmith.utils.atomic import atomic_write_bytes, atomic_write_text
from recsmith.utils.dicts import deep_merge
from recsmith.utils.logging import log

if TYPE_CHECKING:
    import optuna

STORAGE = "study.sqlite3"
LOCK = "tune.lock"
BEST = "best.json"
BEST_CONFIG = "best_config.yaml"
#: the user attribute with the epochs a trial ran (torch models)
EPOCHS_ATTR = "epochs_run"
#: trial states that count towards the study's number of trials
_FINISHED_NAMES = ("COMPLETE", "PRUNED")


@dataclass
class TuneResult:
    study: str
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    states: dict[str, int]  # trial counts by state (COMPLETE, PRUNED, FAIL)
    epochs: dict[str, int]  # epochs run by completed / pruned trials (torch models)
    out: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "best_value": self.best_value,
            "best_params": self.best_params,
            "best_trial": self.best_trial,
            "states": self.states,
            "epochs": self.epochs,
        }


def run_tune(
    dataset: Dataset,
    cfg: RunConfig,
    entry: str,
    out: str | Path,
    *,
    dataset_path: str | Path | None = None,
    trials: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> TuneResult:
    """Run (or resume) the study of model ``entry`` into ``out``; returns its best trial."""
    import optuna

    spaces = cfg.study.spaces.get(entry)
    if not spaces:
        listed = ", ".join(cfg.study.spaces) or "none"
        raise ConfigError(f"study.spaces has no search space for {entry!r} (spaces for: {listed})")
    registered_name(cfg, entry)  # an unknown model fails before anything is written
    out = Path(out)
    _prepare_dir(out, resume=resume, overwrite=overwrite)
    n_trials = trials if trials is not None else cfg.study.trials
    parts = split(dataset.interactions, cfg.split)
    if parts.valid is None or len(parts.valid) == 0:
        raise ConfigError("recsmith tune chooses on validation: set split.valid=true (the split has no validation)")
    side = side_data(dataset, dataset_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _lock(out):
        study = optuna.create_study(
            study_name=entry,
            storage=sqlite_uri(out / STORAGE),
            sampler=_sampler(cfg.study, cfg.seed),
            pruner=_pruner(cfg.study, cfg),
            direction="maximize",
            load_if_exists=True,
        )
        _check_same_space(study, spaces, cfg)
        requeued = _requeue_interrupted(study)
        done = sum(t.state.name in _FINISHED_NAMES for t in study.trials)
        remaining = max(n_trials - done, 0)
        log(
            f"study {entry!r}: {done} trials done, {remaining} to run"
            + (f" ({requeued} interrupted trials queued again)" if requeued else "")
        )
        tracker = _TrialTracker(out, entry, study)
        objective = _Objective(cfg, entry, parts, side)
        if remaining:
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=cfg.study.timeout_s,
                n_jobs=cfg.study.jobs,
                callbacks=[tracker.log_trial],
                show_progress_bar=False,
            )
        result = _summarise(study, out)
        _write_outputs(study, cfg, entry, result, out)
        tracker.finish(out)
    return result


# ---------------------------------------------------------------------- the objective


class _Objective:
    """Fit one trial's model on train, score validation; torch models report every epoch."""

    def __init__(self, cfg: RunConfig, entry: str, parts: Split, side: Any) -> None:
        self.cfg, self.entry, self.parts, self.side = cfg, entry, parts, side
        self.spaces = cfg.study.spaces[entry]
        self.metric = cfg.evaluation.select_metric

    def params(self, trial: "optuna.Trial") -> dict[str, Any]:
        """The entry's parameters with the trial's point merged in (``train.`` keys as overrides)."""
        return deep_merge(self.cfg.model_params(self.entry), nest(suggest(trial, self.spaces)))

    def __call__(self, trial: "optuna.Trial") -> float:
        import optuna

        built = build_model(self.cfg, self.entry, self.params(trial), side=self.side)
        callbacks = []
        if built.train_config is not None:
            monitor = f"valid/{built.train_config.early_stopping.monitor}"

            def report(epoch: int, metrics: dict[str, Any]) -> None:
                trial.set_user_attr(EPOCHS_ATTR, epoch)
                value = metrics.get(f"valid/{self.metric}", metrics.get(monitor))
                if value is None:  # no validation this epoch (validation.every > 1)
                    return
                trial.report(float(value), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.metric} {value:.4f}")

            callbacks.append(report)
        fit_model(
            built.model, self.parts.train, self.parts.valid, train_config=built.train_config, on_epoch_end=callbacks
        )
        ev = self.cfg.evaluation
        assert self.parts.valid is not None
        metrics = evaluate(
            built.model, self.parts.valid, ks=ev.ks, filter_seen=ev.filter_seen, batch_size=ev.batch_size
        )
        if self.metric not in metrics:
            raise ConfigError(f"evaluation.select_metric {self.metric!r} is not computed at evaluation.ks {ev.ks}")
        for key, value in metrics.items():
            trial.set_user_attr(f"valid/{key}", float(value))
        return float(metrics[self.metric])


# ---------------------------------------------------------------------- study set-up
def _sampler(study: StudyConfig, run_seed: int) -> "optuna.samplers.BaseSampler":
    import optuna

    seed = study.seed if study.seed is not None else run_seed
    if study.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=study.startup_trials)


def _pruner(study: StudyConfig, cfg: RunConfig) -> "optuna.pruners.BasePruner":
    import optuna

    if study.pruner == "none":
        return optuna.pruners.NopPruner()
    if study.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(study.warmup_epochs, 1), max_resource=cfg.train.epochs, reduction_factor=3
        )
    return optuna.pruners.MedianPruner(
        n_startup_trials=study.startup_pruning_trials, n_warmup_steps=study.warmup_epochs
    )


def _check_same_space(study: "optuna.Study", spaces: dict[str, Any], cfg: RunConfig) -> None:
    """A resumed study must search the space (and fixed parameters) it started with."""
    signature = json.dumps(
        {
            "spaces": {k: v.model_dump(mode="json") for k, v in spaces.items()},
            "params": cfg.model_params(study.study_name),
            "metric": cfg.evaluation.select_metric,
            "split": cfg.split.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    stored = study.user_attrs.get("signature")
    if stored is None:
        study.set_user_attr("signature", signature)
    elif stored != signature:
        raise ConfigError(
            f"the study in this directory searched another space, model parameters, metric or split; "
            f"resume it with the config it started with, or start a new study (--overwrite). "
            f"It started with: {stored}"
        )


def _requeue_interrupted(study: "optuna.Study") -> int:
    """Trials left RUNNING by a killed tune (no other process holds the lock): failed, and their
    parameters queued again so the study still gets its full number of trials."""
    from optuna.trial import TrialState

    running = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in running:
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)  # Optuna's storage API
        study.enqueue_trial(t.params, skip_if_exists=False)
    return len(running)


def _prepare_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    if (out / STORAGE).exists() and not resume:
        if not overwrite:
            raise RecsmithError(f"{out} already holds a study: pass --resume to continue it or --overwrite to restart")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One tuning process per study directory: ``tune.lock`` holds its pid and host."""
    lock = out / LOCK
    if lock.exists():
        try:
            holder = json.loads(lock.read_text())
        except ValueError:
            holder = {}
        if holder.get("host") == socket.gethostname() and _alive(int(holder.get("pid", -1))):
            raise RecsmithError(
                f"{out} is being tuned by process {holder['pid']} (since {holder.get('started')}); "
                "wait for it, or stop it and --resume"
            )
    atomic_write_text(
        lock, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%FT%T")})
    )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------- MLflow
class _TrialTracker:
    """One MLflow run for the study and a nested run per finished trial (params, value, curve)."""

    def __init__(self, out: Path, entry: str, study: "optuna.Study") -> None:
        self.client = mlflow_client(sqlite_uri(out / MLFLOW_DB))
        self.experiment = experiment_id(self.client, f"tune/{entry}", out / MLFLOW_ARTIFACTS)
        self.lock = threading.Lock()
        parent = study.user_attrs.get("mlflow_run_id")
        if parent is None:
            parent = self.client.create_run(self.experiment, run_name=f"study-{entry}").info.run_id
            study.set_user_attr("mlflow_run_id", parent)
        else:
            self.client.update_run(parent, status="RUNNING")
        self.parent = parent

    def log_trial(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        from mlflow.entities import Metric, Param

        state = trial.state.name
        if state not in _FINISHED_NAMES:
            log(f"trial {trial.number} {state.lower()}")
        now = int(time.time() * 1000)
        with self.lock:
            run = self.client.create_run(
                self.experiment,
                run_name=f"trial-{trial.number}",
                tags={"mlflow.parentRunId": self.parent, "optuna.state": state, "optuna.trial": str(trial.number)},
            )
            curve = mlflow_name(f"valid/{study_metric(study)}")
            metrics = [Metric(curve, v, now, int(step)) for step, v in sorted(trial.intermediate_values.items())]
            if trial.value is not None:
                metrics.append(Metric("value", float(trial.value), now, 0))
            metrics += [
                Metric(mlflow_name(k), float(v), now, 0)
                for k, v in trial.user_attrs.items()
                if k.startswith("valid/") and isinstance(v, int | float)
            ]
            if EPOCHS_ATTR in trial.user_attrs:
                metrics.append(Metric("epochs_run", float(trial.user_attrs[EPOCHS_ATTR]), now, 0))
            params = [Param(mlflow_name(k), str(v)[:6000]) for k, v in trial.params.items()]
            self.client.log_batch(run.info.run_id, metrics=metrics, params=params)
            self.client.set_terminated(run.info.run_id, status="FINISHED" if state in _FINISHED_NAMES else "FAILED")
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        best = f"{study.best_value:.4f}" if any(t.state.name == "COMPLETE" for t in study.trials) else "-"
        epochs = f", {trial.user_attrs[EPOCHS_ATTR]} epochs" if EPOCHS_ATTR in trial.user_attrs else ""
        log(f"trial {trial.number} {state.lower()}: value {value}{epochs} (best {best})")

    def finish(self, out: Path) -> None:
        for name in ("history.png", "importance.png", BEST, BEST_CONFIG):
            if (out / name).exists():
                self.client.log_artifact(self.parent, str(out / name))
        self.client.set_terminated(self.parent, status="FINISHED")


def study_metric(study: "optuna.Study") -> str:
    """The validation metric a study maximises (stored in its signature)."""
    return str(json.loads(study.user_attrs.get("signature", "{}")).get("metric", "value"))


# ---------------------------------------------------------------------- results
def _summarise(study: "optuna.Study", out: Path) -> TuneResult:
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    epochs = {
        "complete": sum(int(t.user_attrs.get(EPOCHS_ATTR, 0)) for t in trials if t.state.name == "COMPLETE"),
        "pruned": sum(int(t.user_attrs.get(EPOCHS_ATTR, 0)) for t in trials if t.state.name == "PRUNED"),
    }
    if not any(t.state.name == "COMPLETE" for t in trials):
        raise RecsmithError(f"study {study.study_name!r} has no completed trial yet (states: {states})")
    best = study.best_trial
    return TuneResult(study.study_name, float(best.value or 0.0), dict(best.params), best.number, states, epochs, out)


def best_config(cfg: RunConfig, entry: str, params: dict[str, Any]) -> RunConfig:
    """``cfg`` with ``params`` (a study's best point) merged into ``models.<entry>``, and the entry's
    grid and search space dropped: a config that trains the tuned model as it is."""
    raw = cfg.model_dump(mode="json")
    raw["models"][entry] = deep_merge(cfg.model_params(entry), nest(params))
    raw["tune"].pop(entry, None)
    raw["study"]["spaces"].pop(entry, None)
    return validate_config(raw, source="best config")


def _write_outputs(study: "optuna.Study", cfg: RunConfig, entry: str, result: TuneResult, out: Path) -> None:
    atomic_write_text(out / BEST, json.dumps(result.to_json(), indent=2))
    atomic_write_text(out / BEST_CONFIG, dump_config(best_config(cfg, entry, result.best_params)))
    _plots(study, out)


def _plots(study: "optuna.Study", out: Path) -> None:
    """Optimisation history and parameter importances as PNGs (Optuna's matplotlib figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    figures: dict[str, Callable[[Any], Any]] = {"history.png": ovm.plot_optimization_history}
    if sum(t.state.name == "COMPLETE" for t in study.trials) >= 2 and len(study.best_params) >= 1:
        figures["importance.png"] = ovm.plot_param_importances
    for name, plot in figures.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna flags its matplotlib backend as experimental
                ax = plot(study)
        except (ValueError, RuntimeError) as err:  # e.g. no parameter varied: nothing to rank
            log(f"{name}: not drawn ({err})")
            continue
        fig: Any = ax.figure
        fig.set_size_inches(8, 4.5)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        atomic_write_bytes(out / name, buffer.getvalue())
