"""recsmith tune: Optuna studies over declared spaces, resume, pruning through the Trainer's callbacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest
import yaml

from recsmith.config import load_config, validate_config
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.data.splits import split
from recsmith.errors import ConfigError, RecsmithError
from recsmith.pipelines.tune import BEST, BEST_CONFIG, EPOCHS_ATTR, LOCK, STORAGE, _Objective, run_tune
from recsmith.training.tracking import MLFLOW_DB, mlflow_client, sqlite_uri


def clustered(n_users: int = 80, n_items: int = 40, per_user: int = 10, seed: int = 0) -> Dataset:
    """Users of four taste clusters picking mostly from their own cluster of items."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        own = np.flatnonzero(np.arange(n_items) % 4 == u % 4)
        users += [u] * per_user
        items += list(rng.choice(own, per_user, replace=False))
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": np.arange(len(users)), "weight": 1.0})
    return Dataset(
        Interactions(frame, n_users, n_items),
        IdMap([f"u{i}" for i in range(n_users)], kind="user"),
        IdMap([f"i{i}" for i in range(n_items)], kind="item"),
        manifest={"name": "clustered"},
    )


def config(trials: int = 3, high: int = 30, **extra):
    raw = {
        "split": {"method": "loo"},
        "models": {"itemknn": {"k": 10}},
        "study": {"trials": trials, "spaces": {"itemknn": {"k": {"type": "int", "low": 2, "high": high}}}},
        "evaluation": {"ks": [5, 10], "select_metric": "ndcg@10"},
        **extra,
    }
    return validate_config(raw)


@pytest.fixture
def study_dir(tmp_path, seed_mlflow_db):
    out = tmp_path / "study"
    seed_mlflow_db(out / MLFLOW_DB)
    return out


def test_a_study_writes_its_best_point_as_a_config_and_logs_every_trial(study_dir):
    result = run_tune(clustered(), config(trials=3), "itemknn", study_dir)
    assert result.states == {"COMPLETE": 3} and 0 < result.best_value <= 1
    assert 2 <= result.best_params["k"] <= 30
    best = json.loads((study_dir / BEST).read_text())
    assert best["best_params"] == result.best_params
    tuned = load_config(study_dir / BEST_CONFIG)
    assert tuned.models["itemknn"]["k"] == result.best_params["k"] and "itemknn" not in tuned.study.spaces
    assert (study_dir / "history.png").stat().st_size > 1000 and (study_dir / "importance.png").exists()
    assert not (study_dir / LOCK).exists()
    client = mlflow_client(sqlite_uri(study_dir / MLFLOW_DB))
    runs = client.search_runs([client.get_experiment_by_name("tune/itemknn").experiment_id])
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 4 and len(trials) == 3  # the study's run and one nested run per trial
    assert {r.data.params["k"] for r in trials} and all("value" in r.data.metrics for r in trials)
    # the best trial's value is what the study reports
    assert max(r.data.metrics["value"] for r in trials) == pytest.approx(result.best_value, abs=1e-12)


def test_resume_runs_only_the_missing_trials_and_refuses_another_space(study_dir):
    data = clustered()
    first = run_tune(data, config(trials=2), "itemknn", study_dir)
    with pytest.raises(RecsmithError, match="--resume"):
        run_tune(data, config(trials=4), "itemknn", study_dir)
    resumed = run_tune(data, config(trials=4), "itemknn", study_dir, resume=True)
    assert resumed.states == {"COMPLETE": 4} and resumed.best_value >= first.best_value
    with pytest.raises(ConfigError, match="searched another space"):
        run_tune(data, config(trials=5, high=20), "itemknn", study_dir, resume=True)


def test_trials_a_killed_tune_left_running_are_failed_and_run_again(study_dir):
    data = clustered()
    run_tune(data, config(trials=2), "itemknn", study_dir)
    study = optuna.load_study(study_name="itemknn", storage=sqlite_uri(study_dir / STORAGE))
    orphan = study.ask({"k": optuna.distributions.IntDistribution(2, 30)})  # as a SIGKILL would leave it
    assert orphan.params["k"]
    result = run_tune(data, config(trials=3), "itemknn", study_dir, resume=True)
    assert result.states == {"COMPLETE": 3, "FAIL": 1}
    trials = optuna.load_study(study_name="itemknn", storage=sqlite_uri(study_dir / STORAGE)).trials
    assert trials[-1].params["k"] == orphan.params["k"]  # the interrupted point was queued again


def test_a_live_tune_on_the_same_study_is_refused(study_dir):
    study_dir.mkdir(parents=True, exist_ok=True)
    (study_dir / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    with pytest.raises(RecsmithError, match="being tuned by process"):
        run_tune(clustered(), config(), "itemknn", study_dir)


def test_a_missing_space_or_validation_part_is_a_clear_error(study_dir):
    with pytest.raises(ConfigError, match="no search space for 'ease'"):
        run_tune(clustered(), config(), "ease", study_dir)
    with pytest.raises(ConfigError, match="split.valid=true"):
        run_tune(clustered(), config(split={"method": "loo", "valid": False}), "itemknn", study_dir)


class PruneAfterFirstReport:
    """An ``optuna.Trial`` stand-in whose pruner says stop at the first report."""

    def __init__(self) -> None:
        self.params, self.attrs, self.reports = {}, {}, []

    def suggest_float(self, name, low, high, *, step=None, log=False):
        self.params[name] = low
        return low

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return True

    def set_user_attr(self, key, value):
        self.attrs[key] = value


def test_a_torch_trial_is_pruned_through_the_trainer_callback():
    cfg = validate_config(
        {
            "split": {"method": "loo"},
            "models": {"mf": {"dim": 8}},
            "train": {"epochs": 5, "batch_size": 128, "threads": 1, "tracking": {"mlflow": False}},
            "study": {"spaces": {"mf": {"train.optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}}},
            "evaluation": {"ks": [10], "select_metric": "ndcg@10"},
        }
    )
    data = clustered()
    trial = PruneAfterFirstReport()
    with pytest.raises(optuna.TrialPruned, match="after epoch 1"):
        _Objective(cfg, "mf", split(data.interactions, cfg.split), None)(trial)
    assert trial.attrs[EPOCHS_ATTR] == 1 and [s for s, _ in trial.reports] == [1]
    assert trial.params == {"train.optimizer.lr": 0.01}


@pytest.mark.parametrize(
    ("space", "words"),
    [
        ({"itemknn": {"kk": {"type": "int", "low": 1, "high": 5}}}, "study.spaces.itemknn.kk: 'itemknn' has no"),
        ({"itemknn": {"k": {"type": "int", "low": 50, "high": 5}}}, "impossible range: low 50.0 is above high"),
        ({"itemknn": {"k": {"type": "int", "low": 0, "high": 5}}}, "the value 0 of this range is refused"),
        ({"itemknn": {"k": {"type": "int", "low": 1.5, "high": 5}}}, "needs whole numbers"),
        ({"ease": {"l2": {"type": "float", "low": 0, "high": 5, "log": True}}}, "log range needs low > 0"),
        ({"ease": {"l2": {"type": "categorical", "choices": []}}}, "non-empty 'choices'"),
        ({"ease": {"train.optimizer.lr": {"type": "float", "low": 0.1, "high": 1}}}, "not trained by the Trainer"),
        ({"nosuch": {"k": {"type": "int", "low": 1, "high": 5}}}, "nosuch"),
    ],
)
def test_bad_search_spaces_name_the_key(space, words):
    with pytest.raises(ConfigError, match=words):
        validate_config({"study": {"spaces": space}})


def test_the_committed_ml100k_study_spaces_load():
    cfg = load_config("configs/ml100k.yaml")
    assert set(cfg.study.spaces) >= {"ease", "als", "sasrec"} and cfg.tune  # the grid keeps working beside it
    assert yaml.safe_load(Path("configs/ml100k.yaml").read_text())["study"]["trials"] == 30
