"""`recsmith tune` against its targets on MovieLens 100K (issue 21), from configs/ml100k.yaml.

Usage (from the repository root)::

    .venv/bin/python benchmarks/tune_study.py [--only ease,als,sasrec,resume] [--work runs/tune_bench]

* ``ease`` / ``als``: a 30-trial study (the config's ``study`` section) against the committed grid
  (its ``tune`` section), both scored by validation NDCG@10 on the same split.
* ``sasrec``: a 20-trial study with the median pruner. Every pruned trial is then trained again with
  its parameters and no pruner (the same seed: the same curve up to where it was pruned), to count
  the epochs it would have run; the saving is the share of all those epochs that pruning skipped.
  Its training budget is cut for the machine (``--sasrec-epochs``, patience 5; printed).
* ``resume``: a 12-trial EASE study whose process is killed (SIGKILL) after 4 finished trials, then
  ``recsmith tune --resume``; the study must end with 12 finished trials, the first 4 kept.

A table on stdout; JSON in ``benchmarks/results/tune_study.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RECSMITH = str(Path(sys.executable).with_name("recsmith"))
CONFIG = ROOT / "configs" / "ml100k.yaml"


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepared(work: Path) -> Path:
    data = work / "ml100k"
    if not (data / "manifest.json").exists():
        subprocess.run(
            [RECSMITH, "data", "prepare", "movielens-100k", "--path", "../shared/data/ml-100k", "--out", str(data)],
            check=True,
            cwd=ROOT,
        )
    return data


def grid_best(data: Path, model: str) -> dict:
    from recsmith.config import load_config
    from recsmith.data.dataset import Dataset
    from recsmith.data.splits import split
    from recsmith.pipelines.benchmark import evaluate_model

    cfg = load_config(CONFIG)
    result, _ = evaluate_model(model, split(Dataset.load(data).interactions, cfg.split), cfg)
    return {"valid_ndcg@10": result.valid["ndcg@10"], "params": result.params, "points": len(result.tuning)}


def study(data: Path, model: str, out: Path, overrides: list[str], trials: int) -> dict:
    from recsmith.config import load_config
    from recsmith.data.dataset import Dataset
    from recsmith.pipelines.tune import run_tune

    cfg = load_config(CONFIG, overrides)
    start = time.perf_counter()
    result = run_tune(Dataset.load(data), cfg, model, out, dataset_path=data, trials=trials, overwrite=True)
    return {**result.to_json(), "seconds": round(time.perf_counter() - start, 1), "load_after": load_avg()}


def counterfactual_epochs(data: Path, out: Path, overrides: list[str]) -> dict:
    """Epochs each pruned SASRec trial would have run without the pruner (same params and seed)."""
    import optuna

    from recsmith.config import load_config
    from recsmith.data.dataset import Dataset
    from recsmith.data.splits import split
    from recsmith.pipelines.builder import build_model
    from recsmith.pipelines.tune import EPOCHS_ATTR, STORAGE
    from recsmith.training.fit import fit_model
    from recsmith.training.search_space import nest
    from recsmith.training.tracking import sqlite_uri
    from recsmith.utils.dicts import deep_merge

    cfg = load_config(CONFIG, overrides)
    parts = split(Dataset.load(data).interactions, cfg.split)
    loaded = optuna.load_study(study_name="sasrec", storage=sqlite_uri(out / STORAGE))
    ran, would = 0, 0
    rows = []
    for t in loaded.trials:
        epochs = int(t.user_attrs.get(EPOCHS_ATTR, 0))
        if t.state.name == "COMPLETE":
            ran += epochs
            would += epochs
        elif t.state.name == "PRUNED":
            built = build_model(cfg, "sasrec", deep_merge(cfg.model_params("sasrec"), nest(t.params)))
            fit_model(built.model, parts.train, parts.valid, train_config=built.train_config)
            full = len(built.model.history)
            rows.append({"trial": t.number, "pruned_at": epochs, "unpruned_epochs": full})
            ran += epochs
            would += full
    return {"epochs_run": ran, "epochs_unpruned": would, "saved": 1 - ran / would if would else 0.0, "pruned": rows}


def resume_check(data: Path, out: Path) -> dict:
    cmd = [RECSMITH, "tune", "--data", str(data), "--model", "ease", "--config", str(CONFIG), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RECSMITH_QUIET": "1"}
    proc = subprocess.Popen([*cmd, "--trials", "12", "--overwrite"], cwd=ROOT, env=env, start_new_session=True)
    storage = out / "study.sqlite3"
    deadline = time.time() + 1800
    finished_before = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if storage.exists():
            try:
                with sqlite3.connect(storage) as db:
                    finished_before = db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
            except sqlite3.Error:
                continue
            if finished_before >= 4:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    killed = proc.returncode == -signal.SIGKILL
    with sqlite3.connect(storage) as db:
        before = dict(db.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall())
    resumed = subprocess.run([*cmd, "--trials", "12", "--resume"], cwd=ROOT, env=env, capture_output=True, text=True)
    with sqlite3.connect(storage) as db:
        after = dict(db.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall())
    return {
        "killed": killed,
        "states_after_kill": before,
        "resume_exit": resumed.returncode,
        "states_after_resume": after,
        "complete_after_resume": after.get("COMPLETE", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="ease,als,sasrec,resume")
    parser.add_argument("--work", default="runs/tune_bench")
    parser.add_argument("--sasrec-epochs", type=int, default=30)
    args = parser.parse_args()
    work = (ROOT / args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = prepared(work)
    path = ROOT / "benchmarks" / "results" / "tune_study.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    only = args.only.split(",")
    for model in ("ease", "als"):
        if model in only:
            load = load_avg()
            results[model] = {
                "grid": grid_best(data, model),
                "study": study(data, model, work / f"study_{model}", [], 30),
                "load_before": load,
            }
            print(model, json.dumps(results[model]), flush=True)
    if "sasrec" in only:
        overrides = [f"train.epochs={args.sasrec_epochs}", "train.early_stopping.patience=5"]
        load = load_avg()
        out = work / "study_sasrec"
        results["sasrec"] = {
            "overrides": overrides,
            "load_before": load,
            "study": study(data, "sasrec", out, overrides, 20),
            "pruning": counterfactual_epochs(data, out, overrides),
        }
        print("sasrec", json.dumps(results["sasrec"]), flush=True)
    if "resume" in only:
        results["resume"] = {"load_before": load_avg(), **resume_check(data, work / "study_resume")}
        print("resume", json.dumps(results["resume"]), flush=True)
    path.write_text(json.dumps(results, indent=2))
    print("\n| target | measured | holds |\n|---|---|---|")
    for model in ("ease", "als"):
        if model in results:
            g, s = results[model]["grid"]["valid_ndcg@10"], results[model]["study"]["best_value"]
            print(f"| {model}: 30-trial study >= grid (valid NDCG@10) | {s:.4f} vs {g:.4f} | {s >= g} |")
    if "sasrec" in results:
        p = results["sasrec"]["pruning"]
        print(
            f"| sasrec: pruning saves >= 40% of epochs | {p['saved']:.1%} ({p['epochs_run']} of "
            f"{p['epochs_unpruned']}) | {p['saved'] >= 0.4} |"
        )
    if "resume" in results:
        r = results["resume"]
        print(
            f"| killed tune resumes | killed={r['killed']}, after kill {r['states_after_kill']}, "
            f"after resume {r['states_after_resume']} | {r['complete_after_resume'] >= 12} |"
        )
    print(f"\nload average at the end: {load_avg()}; JSON: {path}")


if __name__ == "__main__":
    main()
